"""Internal: `SqlStorage`, the `Storage` methods shared by the SQL dialects.

Each method names a unit of SQL (in `queries` or `worker_queries`) and whether it writes;
the dialect's subclass decides how a unit runs (a writer thread for SQLite, a pool for
PostgreSQL).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from datetime import datetime
from typing import Any, TypeVar

from ..errors import StorageError
from ..ids import new_token
from ..jobs import Event, Job
from ..ledger import CreditBalance, CreditEntry, EntryType
from . import (
    credits_sql,
    insert_sql,
    keys_sql,
    maintenance_sql,
    migrate,
    overview_sql,
    queries,
    ratelimit_sql,
    secrets_sql,
    stats_sql,
    webhooks_sql,
    worker_queries,
    workers_sql,
)
from .dialect import SqlDialect
from .fair_share import NO_LIMITS, ClaimLimits
from .records import (
    ApiKey,
    Claim,
    ClaimRequest,
    JobPage,
    JobQuery,
    Lease,
    LeaseReport,
    MaintenanceReport,
    NewJob,
    Outcome,
    WebhookDelivery,
)
from .webhooks_sql import DeliveryResult

__all__ = ["SqlStorage"]

T = TypeVar("T")


class SqlStorage:
    """The `Storage` methods, over the dialect's ``_read`` and ``_write`` runners."""

    supports_listen_notify = False

    def __init__(self, dialect: SqlDialect) -> None:
        self.dialect = dialect
        self._open_lock = threading.Lock()
        self._opening: Future[bool] | None = None
        self._opened = False
        #: The owner the last claim stopped at: the next goes round the owners from there.
        self._claim_after = ""

    async def _open_once(self, migrate_in_thread: Callable[[], Future[bool]], **where: str) -> None:
        """`open`'s shape on every backend: the migration (started by ``migrate_in_thread``,
        returning whether it changed the schema) runs once, however many callers wait; a
        failure is raised to every waiter and retried by the next call."""
        if self._opened:
            return
        with self._open_lock:
            if self._opening is None:
                self._opening = migrate_in_thread()
            opening = self._opening
        try:
            migrated = await asyncio.wrap_future(opening)
        except BaseException:
            with self._open_lock:
                if self._opening is opening:
                    self._opening = None
            raise
        if migrated and not self._opened:
            # Logged as the backend's own module, where operators filter for it.
            backend_log = logging.getLogger(type(self).__module__)
            backend_log.info("database migrated", extra={"action": "db_migrated", **where})
        self._opened = True

    async def _read(self, unit: Callable[..., T], *args: Any) -> T:
        raise NotImplementedError

    async def _write(self, unit: Callable[..., T], *args: Any) -> T:
        raise NotImplementedError

    async def check_ready(self) -> None:
        revision = await self._read(lambda conn, _d: migrate.current_revision(conn))
        if revision != migrate.HEAD_REVISION:
            raise StorageError(
                f"the schema is at {revision or 'nothing'}, not {migrate.HEAD_REVISION}: "
                "run `backburner db upgrade`"
            )

    async def insert_job(self, new: NewJob) -> Job:
        return await self._write(insert_sql.insert_job, new)

    async def get_job(self, job_id: str) -> Job | None:
        return await self._read(queries.get_job, job_id)

    async def get_jobs(self, job_ids: list[str]) -> list[Job]:
        return await self._read(queries.get_jobs, job_ids)

    async def list_jobs(self, query: JobQuery) -> JobPage:
        return await self._read(queries.list_jobs, query)

    async def cancel_job(self, job_id: str) -> Job:
        return await self._write(queries.cancel_job, job_id)

    async def retry_job(
        self,
        job_id: str,
        *,
        slow_after_s: float,
        expire_after_s: float,
        max_queued: int | None = None,
    ) -> Job:
        return await self._write(
            queries.retry_job, job_id, slow_after_s, expire_after_s, max_queued
        )

    async def delete_job(self, job_id: str) -> bool:
        return await self._write(queries.delete_job, job_id)

    async def list_events(self, job_id: str, *, after_seq: int = 0) -> list[Event]:
        return await self._read(queries.list_events, job_id, after_seq)

    async def list_scope_events(
        self, owner: str, scope: str | None, *, after_id: int = 0, limit: int = 500
    ) -> list[tuple[int, Event]]:
        return await self._read(queries.list_scope_events, owner, scope, after_id, limit)

    async def event_feed(
        self, after_id: int | None, limit: int = 500
    ) -> tuple[int, list[tuple[int, str, str | None, Event]]]:
        return await self._read(queries.event_feed, after_id, limit)

    async def insert_api_key(self, key: ApiKey, key_hash: str) -> None:
        await self._write(keys_sql.insert_api_key, key, key_hash)

    async def find_api_key(self, key_hash: str) -> ApiKey | None:
        return await self._read(keys_sql.find_api_key, key_hash)

    async def revoke_api_key(self, key_id: str) -> bool:
        return await self._write(keys_sql.revoke_api_key, key_id)

    async def find_secret(self, name: str) -> str | None:
        return await self._read(secrets_sql.find_secret, name)

    async def get_secret(self, name: str) -> str:
        # Read first: only the very first use needs the (single, on SQLite) writer.
        found = await self.find_secret(name)
        if found is not None:
            return found
        return await self._write(secrets_sql.get_or_create_secret, name)

    async def add_credit_entry(
        self, owner: str, type_: EntryType, micros: int, note: str | None
    ) -> CreditEntry:
        return await self._write(credits_sql.add_entry, owner, type_, micros, note)

    async def credit_balance(self, owner: str) -> CreditBalance:
        return await self._read(credits_sql.get_balance, owner)

    async def credit_entries(self, owner: str, limit: int, before: int | None) -> list[CreditEntry]:
        return await self._read(credits_sql.list_entries, owner, limit, before)

    async def credit_totals(self) -> credits_sql.CreditTotals:
        return await self._read(credits_sql.credit_totals)

    async def list_webhook_deliveries(self, job_id: str) -> list[WebhookDelivery]:
        return await self._read(webhooks_sql.list_deliveries, job_id)

    async def seconds_until_webhook_due(self) -> float | None:
        return await self._read(webhooks_sql.seconds_until_due)

    async def claim_webhook_deliveries(self, limit: int, lease_s: float) -> list[WebhookDelivery]:
        return await self._write(webhooks_sql.claim_deliveries, limit, lease_s)

    async def record_webhook_delivery(
        self, delivery: WebhookDelivery, result: DeliveryResult
    ) -> bool:
        return await self._write(webhooks_sql.record_delivery, delivery, result)

    async def count_jobs(self) -> list[stats_sql.JobCount]:
        return await self._read(stats_sql.count_jobs)

    async def claim_jobs(
        self,
        worker_id: str,
        requests: list[ClaimRequest],
        lease_s: float,
        limit: int,
        limits: ClaimLimits = NO_LIMITS,
    ) -> list[Claim]:
        token = new_token()
        claims, self._claim_after = await self._write(
            worker_queries.claim_jobs,
            worker_id,
            token,
            requests,
            lease_s,
            limit,
            limits,
            self._claim_after,
        )
        return claims

    async def extend_leases(self, leases: list[Lease], lease_s: float) -> LeaseReport:
        if not leases:
            return LeaseReport()
        return await self._write(worker_queries.extend_leases, leases, lease_s)

    async def find_cancel_requests(self, job_ids: list[str]) -> set[str]:
        if not job_ids:
            return set()
        return await self._read(worker_queries.find_cancel_requests, job_ids)

    async def update_progress(
        self, lease: Lease, progress: float | None, message: str | None
    ) -> None:
        await self._write(worker_queries.update_progress, lease, progress, message)

    async def set_partial(self, lease: Lease, key: str, value: Any) -> None:
        await self._write(worker_queries.set_partial, lease, key, value)

    async def load_steps(self, job_id: str) -> dict[str, Any]:
        return await self._read(worker_queries.load_steps, job_id)

    async def save_step(self, lease: Lease, name: str, output: Any) -> None:
        await self._write(worker_queries.save_step, lease, name, output)

    async def finish_jobs(self, outcomes: list[Outcome]) -> list[bool]:
        return await self._write(worker_queries.finish_jobs, outcomes)

    async def upsert_worker(self, worker: workers_sql.WorkerInfo, running: int) -> None:
        await self._write(workers_sql.upsert_worker, worker, running)

    async def stop_worker(self, worker_id: str) -> None:
        await self._write(workers_sql.stop_worker, worker_id)

    async def list_workers(self, limit: int) -> list[workers_sql.WorkerStatus]:
        return await self._read(workers_sql.list_workers, limit)

    async def count_queue(self) -> list[overview_sql.QueueCount]:
        return await self._read(overview_sql.count_queue)

    async def list_running_jobs(self, limit: int) -> list[overview_sql.RunningJob]:
        return await self._read(overview_sql.list_running_jobs, limit)

    async def finished_by_minute(
        self, minutes: int
    ) -> tuple[datetime, list[overview_sql.FinishedCount]]:
        return await self._read(overview_sql.finished_by_minute, minutes)

    async def failed_job_ids(self, kind: str, limit: int) -> list[str]:
        return await self._read(overview_sql.failed_job_ids, kind, limit)

    async def run_maintenance(self, *, retention_s: float, limit: int) -> MaintenanceReport:
        # Short transactions rather than one long one: writers queue behind each.
        report = await self._write(maintenance_sql.reclaim_expired_leases, limit)
        report.expired = await self._write(maintenance_sql.expire_overdue_jobs, limit)
        report.pruned = await self._write(maintenance_sql.prune_finished_jobs, retention_s, limit)
        await self._write(workers_sql.prune_workers, retention_s)
        await self._write(ratelimit_sql.prune_submit_rates)
        return report
