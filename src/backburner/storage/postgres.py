"""PostgreSQL: any number of API and worker processes, on any number of machines, one database.

The shared units (`queries`, `worker_queries`, …) run unchanged: each in one transaction on a
pooled psycopg 3 connection, in a thread of the storage's own pool (one thread per pooled
connection), as on SQLite. What differs from SQLite lives here and in `postgres_dialect`:
the clock, the claim (``FOR UPDATE SKIP LOCKED``, so claims on many nodes never wait for each
other), event inserts that ``NOTIFY`` listeners (`pg_listener`) instead of polling, retries,
and maintenance that runs on one node at a time.

Transactions run in the storage's threads, not on the caller's event loop: the storage can
be used from any loop (the sync facade's, a test's, ``asyncio.run`` in a script), and a
handler that blocks its worker's loop never leaves a transaction (and its row locks) hanging
half-done. psycopg's synchronous waits are in C; its asyncio ones, through SQLAlchemy's
greenlet adapter, cost about twice the CPU per transaction.

``?schema=name`` in the URL keeps the tables in that schema: it is made if missing (while
migrating) and set as the ``search_path`` of every connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import psycopg
import sqlalchemy as sa
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from ..config import Settings
from ..errors import StorageError
from . import maintenance_sql, migrate, queries, ratelimit_sql, workers_sql
from .pg_listener import Listener, first_line
from .postgres_dialect import CHANNEL_SQL, NOTIFY_SQL, PostgresDialect
from .records import MaintenanceReport
from .sql import SqlStorage
from .waiters import Waiters

__all__ = ["PostgresStorage", "engine_url"]

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Many nodes starting at once: one migrates, the others wait, then find nothing to do.
_MIGRATION_LOCK = "SELECT pg_advisory_xact_lock(hashtext(:key))"

#: Each maintenance duty runs on one node at a time (`run_maintenance`); int pairs: own key space.
_MAINTENANCE_LOCK = "SELECT pg_try_advisory_xact_lock(hashtext(:key), :duty)"
_MAINTENANCE_KEY = "backburner.maintenance.{}"  # .format(schema): one set of locks per schema
_RECLAIM, _EXPIRE, _PRUNE, _PRUNE_WORKERS, _PRUNE_RATES = _MAINTENANCE_DUTIES = (0, 1, 2, 3, 4)

#: Serialization failures and deadlocks: the transaction did nothing; run it again.
_RETRYABLE = frozenset({"40001", "40P01"})
_ATTEMPTS = 5
#: Seconds: a connection attempt, and a wait for a free pooled connection.
_CONNECT_TIMEOUT_S = 5
_POOL_TIMEOUT_S = 30.0
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
        self._engine: Engine = sa.create_engine(
            url,
            pool_size=settings.pool_size,
            max_overflow=0,
            pool_timeout=_POOL_TIMEOUT_S,
            connect_args=_connect_args(url, self.schema),
        )
        self._threads = ThreadPoolExecutor(settings.pool_size, thread_name_prefix="bb-postgres")
        self._waiters = Waiters()
        self._listener: Listener | None = None
        self._lock = threading.Lock()
        self._closed = False

    # ── running units ─────────────────────────────────────────────────────
    async def _read(self, unit: Callable[..., T], *args: Any) -> T:
        return await self._run(unit, args)

    async def _write(self, unit: Callable[..., T], *args: Any) -> T:
        return await self._run(unit, args)

    async def _run(self, unit: Callable[..., T], args: tuple[Any, ...]) -> T:
        """Run ``unit`` in one transaction on a pool thread.

        Cancelling the caller does not stop a transaction that has begun: it runs to its
        end (its connection and locks are never left half-way); one not yet begun is dropped.
        """
        return await asyncio.wrap_future(self._threads.submit(self._transact, unit, args))

    def _transact(self, unit: Callable[..., T], args: tuple[Any, ...]) -> T:
        """Run ``unit`` in one transaction.

        Run it again after a deadlock or serialization failure (the server rolled it back),
        and after a connection turned out dead before ``COMMIT`` was sent (a server restart
        leaves every pooled connection so; nothing was committed, and the pool replaces them
        all). A database that cannot be reached is a `StorageError`.
        """
        for attempt in range(1, _ATTEMPTS + 1):
            committing = False
            try:
                with self._engine.begin() as conn:
                    result = unit(conn, self.dialect, *args)
                    committing = True
                return result
            except DBAPIError as exc:
                if attempt < _ATTEMPTS and _retryable(exc, committing):
                    time.sleep(random.uniform(0, 0.005 * attempt))
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
        """Create the schema if needed and migrate it: once per process, however many callers
        wait, and of many processes starting together one migrates (under an advisory lock)
        while the others wait and then find the schema current. A failure is raised to every
        waiter and retried by the next call."""
        await self._open_once(
            lambda: self._threads.submit(self._transact, _migrate_unit, (self.schema,)),
            database=self._where,
        )

    async def close(self) -> None:
        """Stop listening, let running transactions end (up to ten seconds), close the pool."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            listener, self._listener = self._listener, None
        if listener is not None:
            await asyncio.to_thread(listener.stop)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.to_thread(self._threads.shutdown, True), _DRAIN_S)
        self._engine.dispose()

    # ── what differs from the shared methods ──────────────────────────────
    async def run_maintenance(self, *, retention_s: float, limit: int) -> MaintenanceReport:
        """One pass; each duty (its own short transaction, as in `SqlStorage`) first tries its
        transaction-level lock, and is skipped (0) while another node holds it: that node is
        doing it now. A lock dies with its transaction (no leader to lose), and duties are
        fenced and idempotent: the next pass, on any node, does what a skipped one left."""
        key = _MAINTENANCE_KEY.format(self.schema or "")
        report: MaintenanceReport = await self._write(
            _alone,
            key,
            _RECLAIM,
            maintenance_sql.reclaim_expired_leases,
            MaintenanceReport(),
            limit,
        )
        report.expired = await self._write(
            _alone, key, _EXPIRE, maintenance_sql.expire_overdue_jobs, 0, limit
        )
        report.pruned = await self._write(
            _alone, key, _PRUNE, maintenance_sql.prune_finished_jobs, 0, retention_s, limit
        )
        await self._write(_alone, key, _PRUNE_WORKERS, workers_sql.prune_workers, 0, retention_s)
        await self._write(_alone, key, _PRUNE_RATES, ratelimit_sql.prune_submit_rates, 0)
        return report

    async def delete_job(self, job_id: str) -> bool:
        # A delete logs no event: announce it, so waiters on the job notice at once.
        return await self._write(_delete_and_notify, job_id)

    async def wait_for_change(self, timeout_s: float) -> None:
        """Return when another transaction logged an event (a ``NOTIFY`` on this schema's
        channel, from any node), or after ``timeout_s``."""
        if self._listener is None:
            self._start_listener()
        await self._waiters.wait(timeout_s)

    def _start_listener(self) -> None:
        with self._lock:
            if self._listener is not None or self._closed:
                return
            listener = Listener(self._listen_connection, self._channel, self._waiters, self._where)
            self._listener = listener
        listener.start()

    def _listen_connection(self) -> psycopg.Connection[Any]:
        """A connection of its own (not pooled, autocommit) with the pool's arguments."""
        cargs, cparams = self._engine.dialect.create_connect_args(self._engine.url)
        cparams.update(_connect_args(self._engine.url, self.schema))
        return psycopg.connect(*cargs, **cparams, autocommit=True)

    def _channel(self, conn: psycopg.Connection[Any]) -> str:
        """The channel `insert_events` notifies: named after the schema (which may not have
        been made yet, so the configured name is used, not the server's view of it)."""
        if self.schema is not None:
            return f"backburner.{self.schema}"
        row = conn.execute(f"SELECT {CHANNEL_SQL}").fetchone()
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
    return first_line(exc.orig or exc)


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
