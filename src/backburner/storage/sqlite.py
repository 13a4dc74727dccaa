"""SQLite, the embedded default: one file, WAL, every write in ``BEGIN IMMEDIATE``.

SQLite allows one writer at a time. Each process funnels its writes through one writer
thread (so its own writes never contend with each other; those that queue meanwhile are
committed together, see `group_commit`) and takes the write lock up front
with ``BEGIN IMMEDIATE`` (so a transaction never has to upgrade a read lock, the case
``busy_timeout`` cannot help). Reads run in a small pool: in WAL mode readers never block
the writer nor each other. Several processes on one file contend only for the write lock,
which a short ``busy_timeout`` and a tight retry loop turn into fair waiting, never into
"database is locked".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import Connection, Engine, event
from sqlalchemy.exc import OperationalError

from ..config import Settings
from ..errors import ConfigError, StorageError
from ..jobs import Job
from . import insert_sql, migrate, queries, worker_queries
from .group_commit import GroupCommitter
from .sql import SqlStorage
from .sqlite_dialect import SqliteDialect
from .sqlite_reads import InlineReads
from .write_lock import WriteLock

__all__ = ["SqliteDialect", "SqliteStorage", "sqlite_path"]

log = logging.getLogger(__name__)
T = TypeVar("T")

_BUSY_RETRY_FOR_S = 60.0
#: Small writes that share transactions when they queue together (submits from many API
#: requests, progress from many handlers); the rest (claims, finishes) are batches already.
_SHARED = frozenset(
    {
        insert_sql.insert_job,
        queries.cancel_job,
        queries.retry_job,
        queries.delete_job,
        worker_queries.update_progress,
        worker_queries.set_partial,
        worker_queries.save_step,
    }
)
_READERS = 4


def sqlite_path(url: str) -> Path:
    """The file a ``sqlite:///…`` URL names; in-memory databases cannot be shared, so no."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or url[len(prefix) :] in ("", ":memory:"):
        raise ConfigError(
            f"BACKBURNER_DATABASE_URL: {url!r} must name a file, like sqlite:///backburner.db"
        )
    return Path(url[len(prefix) :].split("?", 1)[0])


class SqliteStorage(SqlStorage):
    """`Storage` on a SQLite file."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(SqliteDialect())
        self.path = sqlite_path(settings.database_url)
        self._settings = settings
        self._write_engine = self._engine("BEGIN IMMEDIATE", pool_size=1)
        self._write_lock = WriteLock(self.path)
        self._read_engine = self._engine("BEGIN", pool_size=_READERS)
        self._writer = GroupCommitter(
            lambda unit, args: self._transact(self._write_engine, unit, args), "bb-sqlite-write"
        )
        self._readers = ThreadPoolExecutor(_READERS, thread_name_prefix="bb-sqlite-read")
        self._watcher = ChangeWatcher(self.path, settings.poll_interval_s)
        self._inline = InlineReads(self.path, settings.busy_timeout_s)

    def _engine(self, begin_sql: str, *, pool_size: int) -> Engine:
        engine = sa.create_engine(
            f"sqlite:///{self.path}",
            connect_args={"check_same_thread": False, "timeout": self._settings.busy_timeout_s},
            pool_size=pool_size,
            max_overflow=0,
        )
        pragmas = _pragmas(self._settings)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, below
            for pragma in pragmas:
                dbapi_conn.execute(pragma)

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            conn.exec_driver_sql(begin_sql)

        return engine

    async def open(self) -> None:
        """Create the file if needed and migrate it, once, however many callers wait.

        The migration runs under the write lock, so of several processes one migrates.
        A failure (the file cannot be opened yet) is raised to every waiter and retried by
        the next call.
        """
        await self._open_once(lambda: self._writer.run_alone(self._migrate), path=str(self.path))

    def _migrate(self) -> bool:
        upgraded, _changed = self._transact(self._write_engine, _migrate_unit, ())
        return upgraded

    async def close(self) -> None:
        self._watcher.close()
        self._writer.shutdown()
        self._readers.shutdown(wait=True)
        self._inline.close()
        self._write_engine.dispose()
        self._read_engine.dispose()
        self._write_lock.close()

    async def get_job(self, job_id: str) -> Job | None:
        """The hottest read, on this thread (`sqlite_reads`); through the pool if busy."""
        try:
            return self._inline.get_job(job_id)
        except sqlite3.OperationalError:
            return await super().get_job(job_id)

    async def _read(self, unit: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        result, _ = await loop.run_in_executor(
            self._readers, self._transact, self._read_engine, unit, args
        )
        return result

    async def _write(self, unit: Callable[..., T], *args: Any) -> T:
        alone = unit not in _SHARED
        # Plain submits queued together are inserted together (see `group_commit`).
        plain = unit is insert_sql.insert_job and insert_sql.coalescible(args[0])
        many = insert_sql.insert_plain_jobs if plain else None
        outcome: tuple[T, bool] = await asyncio.wrap_future(
            self._writer.submit(unit, args, alone=alone, many=many)
        )
        result, changed = outcome
        if changed:  # an empty claim must not wake the claim loop that made it: it would spin
            self._watcher.poke()
        return result

    def _transact(
        self, engine: Engine, unit: Callable[..., T], args: tuple[Any, ...]
    ) -> tuple[T, bool]:
        """Run ``unit`` in one transaction, waiting out other processes' write locks.

        Returns its result and whether it changed any row.
        """
        deadline = time.monotonic() + _BUSY_RETRY_FOR_S
        writes = engine is self._write_engine
        while True:
            try:
                with self._write_lock.held() if writes else contextlib.nullcontext():
                    return self._run_unit(engine, unit, args)
            except OperationalError as exc:
                if not _is_busy(exc) or time.monotonic() > deadline:
                    raise StorageError(f"SQLite database {self.path}: {exc.orig}") from exc
                # Short, jittered pauses: SQLite's own busy handler backs off to 100 ms
                # sleeps, and writers arriving meanwhile keep winning the lock; a heartbeat
                # that waits like that can lose a healthy worker's lease.
                time.sleep(random.uniform(0.0005, 0.003))

    def _run_unit(
        self, engine: Engine, unit: Callable[..., T], args: tuple[Any, ...]
    ) -> tuple[T, bool]:
        with engine.begin() as conn:
            raw: Any = conn.connection.dbapi_connection
            before = raw.total_changes
            result = unit(conn, self.dialect, *args)
            return result, raw.total_changes != before

    async def wait_for_change(self, timeout_s: float) -> None:
        await self._watcher.wait(timeout_s)


def _migrate_unit(conn: Connection, _dialect: SqliteDialect) -> bool:
    return migrate.upgrade(conn)


def _pragmas(settings: Settings) -> list[str]:
    """Set on every connection: WAL, durability, lock waiting, cascading deletes."""
    return [
        f"PRAGMA busy_timeout = {int(settings.busy_timeout_s * 1000)}",
        "PRAGMA journal_mode = WAL",
        f"PRAGMA synchronous = {settings.sqlite_synchronous}",
        "PRAGMA foreign_keys = ON",
        "PRAGMA temp_store = MEMORY",
    ]


def _is_busy(exc: OperationalError) -> bool:
    text = str(exc.orig).lower()
    return "locked" in text or "busy" in text


class ChangeWatcher:
    """Wakes waiters when the file changes: ``PRAGMA data_version`` polled by one thread.

    ``data_version`` changes whenever another connection (this process's writer, or another
    process) commits, and reading it touches no table. Writes from this process also wake
    waiters at once through `poke`.
    """

    def __init__(self, path: Path, interval_s: float) -> None:
        self._path = path
        self._interval_s = interval_s
        self._cond = threading.Condition()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._thread: threading.Thread | None = None
        self._closed = False

    async def wait(self, timeout_s: float) -> None:
        loop = asyncio.get_running_loop()
        waiter = (loop, loop.create_future())
        with self._cond:
            self._waiters.append(waiter)
            self._start()
            self._cond.notify()
        try:
            async with asyncio.timeout(timeout_s):  # not wait_for: 3.11's can swallow a cancel
                await waiter[1]
        except TimeoutError:
            pass
        finally:
            with self._cond, contextlib.suppress(ValueError):
                self._waiters.remove(waiter)

    def poke(self) -> None:
        """Wake every waiter now."""
        with self._cond:
            waiters = list(self._waiters)
        for loop, future in waiters:
            with contextlib.suppress(RuntimeError):  # that loop has closed
                loop.call_soon_threadsafe(_resolve, future)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _start(self) -> None:
        if self._thread is None and not self._closed:
            self._thread = threading.Thread(target=self._run, name="bb-sqlite-watch", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        last: int | None = None
        while True:
            with self._cond:
                while not self._waiters and not self._closed:
                    self._cond.wait()
                if self._closed:
                    break
            time.sleep(self._interval_s)
            try:
                conn = conn or sqlite3.connect(f"file:{self._path}?mode=rw", uri=True)
                version = conn.execute("PRAGMA data_version").fetchone()[0]
            except sqlite3.Error:
                conn, version = None, None  # the file is not there yet; keep watching
            if version != last:
                last = version
                self.poke()
        if conn is not None:
            conn.close()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
