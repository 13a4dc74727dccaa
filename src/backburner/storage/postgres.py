"""PostgreSQL: any number of API and worker processes, on any number of machines, one database.

The shared units (`queries`, `worker_queries`, …) run unchanged: each in one transaction on a
pooled connection, through SQLAlchemy's asyncio engine over psycopg 3
(``AsyncConnection.run_sync``). What differs from SQLite lives here: the clock, the claim
(``FOR UPDATE SKIP LOCKED``, so claims on many nodes never wait for each other), event inserts
that ``NOTIFY`` listeners, and waking idle waiters with ``LISTEN`` instead of polling.

Every connection — the pool and the listener — lives on one private event loop in a thread of
its own: the storage can then be used from any event loop (the sync facade's, a test's,
``asyncio.run`` in a script), and a handler that blocks its worker's loop never leaves a
transaction (and its row locks) hanging half-done.

``?schema=name`` in the URL keeps the tables in that schema: it is made if missing (while
migrating) and set as the ``search_path`` of every connection.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
import sqlalchemy as sa
from psycopg import sql as pgsql
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ..config import Settings
from ..errors import StorageError
from . import migrate, queries, worker_queries
from .loop_thread import LoopThread, Waiters
from .postgres_dialect import CHANNEL_SQL, NOTIFY_SQL, PostgresDialect
from .records import MaintenanceReport
from .sql import SqlStorage

__all__ = ["PostgresStorage", "engine_url"]

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Many nodes starting at once: one migrates, the others wait, then find nothing to do.
_MIGRATION_LOCK = "SELECT pg_advisory_xact_lock(hashtext(:key))"

#: Each maintenance duty runs on one node at a time (`run_maintenance`); int pairs: own key space.
_MAINTENANCE_LOCK = "SELECT pg_try_advisory_xact_lock(hashtext(:key), :duty)"
_MAINTENANCE_KEY = "backburner.maintenance.{}"  # .format(schema): one set of locks per schema
_RECLAIM, _EXPIRE, _PRUNE = _MAINTENANCE_DUTIES = (0, 1, 2)

#: Serialization failures and deadlocks: the transaction did nothing; run it again.
_RETRYABLE = frozenset({"40001", "40P01"})
_ATTEMPTS = 5
#: Seconds: a connection attempt, and a wait for a free pooled connection.
_CONNECT_TIMEOUT_S = 5
_POOL_TIMEOUT_S = 30.0
#: The listener checks its connection is alive this often when no notification comes.
_LISTEN_CHECK_S = 10.0
#: At close, how long transactions still running get to finish.
_DRAIN_S = 10.0


def engine_url(url: str) -> tuple[sa.URL, str | None]:
    """SQLAlchemy's URL for psycopg 3, without backburner's own ``schema`` parameter, and
    that schema (``None``: the server's default ``search_path``)."""
    parsed = sa.make_url(url)
    schema = parsed.query.get("schema")
    parsed = parsed.difference_update_query(["schema"]).set(drivername="postgresql+psycopg")
    return parsed, schema if isinstance(schema, str) else None


class PostgresStorage(SqlStorage):
    """`Storage` on a PostgreSQL database."""

    supports_listen_notify = True

    def __init__(self, settings: Settings) -> None:
        super().__init__(PostgresDialect())
        url, self.schema = engine_url(settings.database_url)
        self._where = f"{url.host or 'localhost'}:{url.port or 5432}/{url.database or ''}"
        self._engine: AsyncEngine = create_async_engine(
            url,
            pool_size=settings.pool_size,
            max_overflow=0,
            pool_timeout=_POOL_TIMEOUT_S,
            connect_args=_connect_args(url, self.schema),
        )
        self._runtime = LoopThread("bb-postgres")
        self._waiters = Waiters()
        self._listener: asyncio.Task[None] | None = None
        self._open_lock: asyncio.Lock | None = None
        self._opened = False
        self._closed = False

    # ── running units ─────────────────────────────────────────────────────
    async def _read(self, unit: Callable[..., T], *args: Any) -> T:
        return await self._runtime.run(self._transact(unit, args))

    async def _write(self, unit: Callable[..., T], *args: Any) -> T:
        return await self._runtime.run(self._transact(unit, args))

    async def _transact(self, unit: Callable[..., T], args: tuple[Any, ...]) -> T:
        """Run ``unit`` in one transaction (on the private loop).

        Run it again after a deadlock or serialization failure (the server rolled it back),
        and after a connection turned out dead before ``COMMIT`` was sent (a server restart
        leaves every pooled connection so; nothing was committed, and the pool replaces them
        all). A database that cannot be reached is a `StorageError`.
        """
        for attempt in range(1, _ATTEMPTS + 1):
            committing = False
            try:
                async with self._engine.begin() as conn:
                    result = await conn.run_sync(unit, self.dialect, *args)
                    committing = True
                return result
            except DBAPIError as exc:
                if attempt < _ATTEMPTS and _retryable(exc, committing):
                    await asyncio.sleep(random.uniform(0, 0.005 * attempt))
                    continue
                if isinstance(exc, OperationalError | InterfaceError):
                    raise StorageError(f"PostgreSQL at {self._where}: {_reason(exc)}") from None
                raise
            except PoolTimeout:
                raise StorageError(
                    f"PostgreSQL at {self._where}: every pooled connection stayed busy for "
                    f"{_POOL_TIMEOUT_S:g}s; raise BACKBURNER_POOL_SIZE"
                ) from None
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    # ── lifecycle ─────────────────────────────────────────────────────────
    async def open(self) -> None:
        """Create the schema if needed and migrate it: once per process, and of many
        processes starting together one migrates (under an advisory lock) while the others
        wait and then find the schema current."""
        if not self._opened:
            await self._runtime.run(self._open())

    async def _open(self) -> None:
        if self._open_lock is None:
            self._open_lock = asyncio.Lock()
        async with self._open_lock:
            if self._opened:
                return
            if await self._transact(_migrate_unit, (self.schema,)):
                log.info(
                    "database migrated",
                    extra={"action": "db_migrated", "database": self._where},
                )
            self._opened = True

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._runtime.started:
            await self._runtime.run(self._shutdown())
        self._runtime.stop()

    async def _shutdown(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
        current = asyncio.current_task()
        busy = [t for t in asyncio.all_tasks() if t is not current]
        if busy:
            await asyncio.wait(busy, timeout=_DRAIN_S)
        await self._engine.dispose()

    # ── what differs from the shared methods ──────────────────────────────
    async def run_maintenance(self, *, retention_s: float, limit: int) -> MaintenanceReport:
        """One pass; each duty (its own short transaction, as in `SqlStorage`) first tries its
        transaction-level lock, and is skipped (0) while another node holds it: that node is
        doing it now. A lock dies with its transaction (no leader to lose), and duties are
        fenced and idempotent: the next pass, on any node, does what a skipped one left."""
        key = _MAINTENANCE_KEY.format(self.schema or "")
        report: MaintenanceReport = await self._write(
            _alone, key, _RECLAIM, worker_queries.reclaim_expired_leases, MaintenanceReport(), limit
        )
        report.expired = await self._write(
            _alone, key, _EXPIRE, worker_queries.expire_overdue_jobs, 0, limit
        )
        report.pruned = await self._write(
            _alone, key, _PRUNE, worker_queries.prune_finished_jobs, 0, retention_s, limit
        )
        return report

    async def delete_job(self, job_id: str) -> bool:
        # A delete logs no event: announce it, so waiters on the job notice at once.
        return await self._write(_delete_and_notify, job_id)

    async def wait_for_change(self, timeout_s: float) -> None:
        """Return when another transaction logged an event (a ``NOTIFY`` on this schema's
        channel, from any node), or after ``timeout_s``."""
        if self._listener is None and not self._closed:
            self._runtime.call_soon(self._start_listener)
        await self._waiters.wait(timeout_s)

    def _start_listener(self) -> None:
        if self._listener is None and not self._closed:
            self._listener = asyncio.create_task(self._listen(), name="bb-postgres-listen")

    async def _listen(self) -> None:
        """LISTEN on a dedicated connection and wake waiters on every notification,
        reconnecting (with a growing pause) whenever the connection is lost."""
        cargs, cparams = self._engine.dialect.create_connect_args(self._engine.url)
        cparams = {k: v for k, v in cparams.items() if k != "context"}
        cparams.update(_connect_args(self._engine.url, self.schema))
        pause = 0.1
        while True:
            listened = False
            try:
                async with await psycopg.AsyncConnection.connect(
                    *cargs, **cparams, autocommit=True
                ) as conn:
                    channel = await self._channel(conn)
                    await conn.execute(pgsql.SQL("LISTEN {}").format(pgsql.Identifier(channel)))
                    listened = True
                    # Changes made while nobody listened were not announced: look now.
                    self._waiters.wake()
                    await self._relay(conn)
            except Exception as exc:  # whatever it was, the listener must not die: retry
                pause = 0.1 if listened else pause  # it was lost, not refused: retry soon
                log.warning(
                    "not listening for changes (retrying in %.1fs): %s",
                    pause,
                    _first_line(exc),
                    extra={"action": "listen_failed", "database": self._where},
                )
            await asyncio.sleep(pause)
            pause = min(pause * 2, 5.0)

    async def _relay(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Wake waiters at each notification, until the connection fails."""
        while True:
            async for _notify in conn.notifies(timeout=_LISTEN_CHECK_S):
                self._waiters.wake()
            await conn.execute("SELECT 1")  # a quiet spell: is the server still there?

    async def _channel(self, conn: psycopg.AsyncConnection[Any]) -> str:
        """The channel `insert_events` notifies: named after the schema (which may not have
        been made yet, so the configured name is used, not the server's view of it)."""
        if self.schema is not None:
            return f"backburner.{self.schema}"
        row = await (await conn.execute(f"SELECT {CHANNEL_SQL}")).fetchone()
        if row is None or row[0] is None:
            raise StorageError("no schema of the search_path exists yet")
        return str(row[0])


def _connect_args(url: sa.URL, schema: str | None) -> dict[str, Any]:
    """psycopg's connection arguments: a bounded connect, a name in ``pg_stat_activity``,
    and the schema as ``search_path`` (after any ``options`` the URL gives)."""
    args: dict[str, Any] = {}
    if "connect_timeout" not in url.query:
        args["connect_timeout"] = _CONNECT_TIMEOUT_S
    if "application_name" not in url.query:
        args["application_name"] = "backburner"
    if schema is not None:
        given = url.query.get("options", "")
        args["options"] = f"{given} -c search_path={schema}".strip()
    return args


def _retryable(exc: DBAPIError, committing: bool) -> bool:
    """Whether running the unit again is safe and may succeed: a deadlock or serialization
    failure, or a dead connection found before ``COMMIT`` (during it, the outcome is
    unknown: the transaction may have committed)."""
    if getattr(exc.orig, "sqlstate", None) in _RETRYABLE:
        return True
    return exc.connection_invalidated and not committing


def _reason(exc: DBAPIError) -> str:
    """The driver's message, first line only (the rest is libpq's context)."""
    return _first_line(exc.orig or exc)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _migrate_unit(conn: Connection, _d: PostgresDialect, schema: str | None) -> bool:
    conn.execute(sa.text(_MIGRATION_LOCK), {"key": f"backburner.migrate.{schema or ''}"})
    if schema is not None:
        quoted = conn.dialect.identifier_preparer.quote_identifier(schema)
        conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {quoted}")
    return migrate.upgrade(conn)


def _alone(
    conn: Connection, d: PostgresDialect, key: str, duty: int, unit: Callable[..., T], skipped: T,
    *args: Any,
) -> T:  # fmt: skip
    """Run the maintenance ``unit`` if this transaction gets its duty's lock; else ``skipped``."""
    locked = conn.execute(sa.text(_MAINTENANCE_LOCK), {"key": key, "duty": duty}).scalar()
    return unit(conn, d, *args) if locked else skipped


def _delete_and_notify(conn: Connection, d: PostgresDialect, job_id: str) -> bool:
    deleted = queries.delete_job(conn, d, job_id)
    if deleted:
        conn.exec_driver_sql(NOTIFY_SQL)
    return deleted
