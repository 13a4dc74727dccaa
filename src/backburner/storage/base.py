"""The storage seam: what the app and the worker need from a database, and nothing more.

Only `backburner.storage` imports database drivers; everything above it sees this Protocol.
Each method is one transaction. Worker writes are *fenced*: they name the `Lease` the worker
was given, and raise `LeaseLost` (or report the job lost) when the job is no longer running
under it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from ..jobs import Event, Job
from ..ledger import CreditBalance, CreditEntry, EntryType
from .credits_sql import CreditTotals
from .fair_share import NO_LIMITS, ClaimLimits
from .overview_sql import FinishedCount, QueueCount, RunningJob
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
from .stats_sql import JobCount
from .webhooks_sql import DeliveryResult
from .workers_sql import WorkerInfo, WorkerStatus

__all__ = ["Storage"]


class Storage(Protocol):
    """A backend: SQLite now, PostgreSQL later, each in its own module."""

    #: The backend pushes wake-ups to idle workers (otherwise workers poll).
    supports_listen_notify: bool

    async def open(self) -> None:
        """Connect and bring the schema up to date."""

    async def close(self) -> None:
        """Release connections and threads."""

    async def check_ready(self) -> None:
        """Raise `StorageError` unless the database answers and its schema is current."""

    # ── the Python API's side ─────────────────────────────────────────────
    async def insert_job(self, new: NewJob) -> Job:
        """Insert, or return the active (or reusable) job with the same dedupe key."""

    async def get_job(self, job_id: str) -> Job | None:
        """One job, or ``None``."""

    async def get_jobs(self, job_ids: list[str]) -> list[Job]:
        """Many jobs in one query (missing ids are left out)."""

    async def list_jobs(self, query: JobQuery) -> JobPage:
        """A page of jobs, newest first."""

    async def cancel_job(self, job_id: str) -> Job:
        """Cancel a queued job, or ask a running job's worker to stop it."""

    async def retry_job(
        self,
        job_id: str,
        *,
        slow_after_s: float,
        expire_after_s: float,
        max_queued: int | None = None,
    ) -> Job:
        """Put a failed or canceled job back in the queue: the same row, attempts reset."""

    async def delete_job(self, job_id: str) -> bool:
        """Delete a finished job with its events and steps; ``False`` when there was none."""

    async def list_events(self, job_id: str, *, after_seq: int = 0) -> list[Event]:
        """A job's events after ``after_seq``, in order."""

    async def list_scope_events(
        self, owner: str, scope: str | None, *, after_id: int = 0, limit: int = 500
    ) -> list[tuple[int, Event]]:
        """Up to ``limit`` events of the owner's jobs in ``scope`` (``None``: all of them)
        with ``events.id`` after ``after_id``, in id order, as ``(events.id, event)``."""

    async def event_feed(
        self, after_id: int | None, limit: int = 500
    ) -> tuple[int, list[tuple[int, str, str | None, Event]]]:
        """Every job's events after ``events.id`` ``after_id`` (at most ``limit``, in id order)
        as ``(id, owner, scope, event)``, with the id to pass next time; with ``None``, no
        events and the newest id (where a live tail starts). One query for all the streams
        of an API process (`backburner.api.fanout`)."""

    async def insert_api_key(self, key: ApiKey, key_hash: str) -> None:
        """Store a new API key's hash."""

    async def find_api_key(self, key_hash: str) -> ApiKey | None:
        """The unrevoked API key with this hash."""

    async def count_jobs(self) -> list[JobCount]:
        """Jobs counted by kind, status, error type and runnability (for metrics)."""

    async def revoke_api_key(self, key_id: str) -> bool:
        """Revoke an API key; ``False`` when no unrevoked key has that id."""

    async def get_secret(self, name: str) -> str:
        """The server secret called ``name``, made (randomly, once) on first use."""

    async def find_secret(self, name: str) -> str | None:
        """The server secret called ``name``, if it has been made (never makes it)."""

    # ── credits ───────────────────────────────────────────────────────────
    async def add_credit_entry(
        self, owner: str, type_: EntryType, micros: int, note: str | None
    ) -> CreditEntry:
        """A grant or adjustment; `InvalidInput` when it would leave less than is reserved."""

    async def credit_balance(self, owner: str) -> CreditBalance:
        """An owner's balance and reservations."""

    async def credit_entries(self, owner: str, limit: int, before: int | None) -> list[CreditEntry]:
        """An owner's ledger entries, newest first, with ids below ``before``."""

    async def credit_totals(self) -> CreditTotals:
        """The ledger summed by type and kind, and all balances (for metrics)."""

    # ── webhooks ──────────────────────────────────────────────────────────
    async def list_webhook_deliveries(self, job_id: str) -> list[WebhookDelivery]:
        """A job's webhook deliveries, oldest first."""

    async def seconds_until_webhook_due(self) -> float | None:
        """Seconds until the next pending delivery is due (≤ 0: now); ``None``: none pending."""

    async def claim_webhook_deliveries(self, limit: int, lease_s: float) -> list[WebhookDelivery]:
        """Take up to ``limit`` due deliveries for ``lease_s`` seconds, counting the attempt."""

    async def record_webhook_delivery(
        self, delivery: WebhookDelivery, result: DeliveryResult
    ) -> bool:
        """Store how an attempt went; ``False`` when another sender claimed it since."""

    async def wait_for_change(self, timeout_s: float) -> None:
        """Return when the database may have changed, or after ``timeout_s``."""

    # ── the worker's side ─────────────────────────────────────────────────
    async def claim_jobs(
        self,
        worker_id: str,
        requests: list[ClaimRequest],
        lease_s: float,
        limit: int,
        limits: ClaimLimits = NO_LIMITS,
    ) -> list[Claim]:
        """Move up to ``limit`` runnable queued jobs to running under a new lease: fairly
        across owners (the next slot to the owner with the fewest running), each owner's
        highest priority first, then oldest; within each request's limit and ``limits``."""

    async def extend_leases(self, leases: list[Lease], lease_s: float) -> LeaseReport:
        """Heartbeat: push back the expiry of leases still held; report lost ones and cancels."""

    async def find_cancel_requests(self, job_ids: list[str]) -> set[str]:
        """Which of these jobs a user asked to cancel (a read, for prompt cancels)."""

    async def update_progress(
        self, lease: Lease, progress: float | None, message: str | None
    ) -> None:
        """Record progress (fenced)."""

    async def set_partial(self, lease: Lease, key: str, value: Any) -> None:
        """Record one partial result (fenced)."""

    async def load_steps(self, job_id: str) -> dict[str, Any]:
        """The stored results of a job's completed steps, by name."""

    async def save_step(self, lease: Lease, name: str, output: Any) -> None:
        """Store a step's result (fenced); the first stored result wins."""

    async def finish_jobs(self, outcomes: list[Outcome]) -> list[bool]:
        """Apply outcomes in one transaction; ``False`` where the lease was lost."""

    # ── the worker registry and the operator's overview ────────────────────
    async def upsert_worker(self, worker: WorkerInfo, running: int) -> None:
        """A worker's heartbeat: now, with ``running`` jobs held (its row made if missing)."""

    async def stop_worker(self, worker_id: str) -> None:
        """The worker stopped cleanly."""

    async def list_workers(self, limit: int) -> list[WorkerStatus]:
        """The ``limit`` workers heard of most recently, newest first."""

    async def count_queue(self) -> list[QueueCount]:
        """Queued, running and failed jobs counted by kind."""

    async def list_running_jobs(self, limit: int) -> list[RunningJob]:
        """Up to ``limit`` running jobs with their workers and leases, lease ending first."""

    async def finished_by_minute(self, minutes: int) -> tuple[datetime, list[FinishedCount]]:
        """Jobs finished in the current minute and the ``minutes - 1`` before it, by minute
        and status; and the window's first minute."""

    async def failed_job_ids(self, kind: str, limit: int) -> list[str]:
        """Up to ``limit`` failed jobs of ``kind``, oldest first."""

    # ── maintenance ───────────────────────────────────────────────────────
    async def run_maintenance(self, *, retention_s: float, limit: int) -> MaintenanceReport:
        """Reclaim expired leases, expire overdue queued jobs, prune old finished jobs (and
        workers not heard of within the retention)."""
