"""Internal: the values that cross the storage seam, and rows turned into `Job`s."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy import RowMapping

from ..jobs import ErrorType, Event, Job, JobError, JobStatus, Webhook

__all__ = [
    "ApiKey",
    "Claim",
    "ClaimRequest",
    "JobPage",
    "JobQuery",
    "Lease",
    "LeaseReport",
    "MaintenanceReport",
    "NewJob",
    "Outcome",
    "WebhookDelivery",
    "row_to_delivery",
    "row_to_event",
    "row_to_job",
    "to_datetime",
]

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class NewJob:
    """A validated submit, ready to insert."""

    id: str
    kind: str
    owner: str
    scope: str | None
    input: Any
    dedupe_key: str | None
    priority: int
    cost: float
    max_attempts: int
    slow_after_s: float
    expire_after_s: float
    #: Return a succeeded job with the same dedupe key instead of inserting.
    reuse_succeeded: bool = False
    #: The same key from the same owner within 24 h returns the same job.
    idempotency_key: str | None = None
    #: Where status changes are POSTed (the URL already checked against the allow-list).
    webhook: Webhook | None = None
    #: Refund the charge when the job ends without success (the kind's policy at submit).
    refundable: bool = True
    #: The most jobs the owner may have queued (`Settings.owner_max_queued`); ``None``: any.
    max_queued: int | None = None
    #: The owner's submission rate limit, (count, period in seconds); ``None``: none.
    submit_rate: tuple[int, float] | None = None


@dataclass(frozen=True)
class ApiKey:
    """An API key's identity: who it acts as. The key itself is never stored."""

    #: Public, shown in listings and used to revoke.
    id: str
    owner: str
    #: Sees and acts on every owner's jobs.
    admin: bool = False


@dataclass(frozen=True)
class JobQuery:
    """Filters for `Storage.list_jobs`; ``None`` means any. Newest first."""

    owner: str | None = None
    scope: str | None = None
    statuses: tuple[JobStatus, ...] | None = None
    kind: str | None = None
    dedupe_key: str | None = None
    #: Only jobs older than this id (the previous page's ``next_cursor``).
    cursor: str | None = None
    limit: int = 50


@dataclass(frozen=True)
class JobPage:
    """One page of jobs, newest first; ``next_cursor`` is ``None`` on the last page."""

    jobs: list[Job]
    next_cursor: str | None


@dataclass(frozen=True)
class Lease:
    """A worker's claim on a running job: every write it makes for the job names it."""

    job_id: str
    token: str


@dataclass(frozen=True)
class Claim:
    """A job a worker has just claimed, with its lease."""

    job: Job
    lease: Lease
    #: Times the job's lease expired before: crashes do not spend the attempt budget.
    lease_expiries: int = 0


@dataclass(frozen=True)
class ClaimRequest:
    """Claim up to ``limit`` runnable jobs of these ``kinds``."""

    kinds: tuple[str, ...]
    limit: int


@dataclass(frozen=True)
class Outcome:
    """How a worker ends its hold on a job: finished, back to the queue, or released."""

    lease: Lease
    #: ``succeeded``, ``failed``, ``canceled`` or ``queued`` (retry after ``delay_s``).
    status: JobStatus
    output: Any = None
    error: JobError | None = None
    delay_s: float = 0.0
    #: Put back by a stopping worker: the attempt is not spent.
    release: bool = False


@dataclass(frozen=True)
class LeaseReport:
    """What a heartbeat learned: leases no longer ours, and cancels asked for."""

    lost: frozenset[str] = frozenset()
    cancel_requested: frozenset[str] = frozenset()


@dataclass(frozen=True)
class WebhookDelivery:
    """One webhook delivery from the outbox: a status change to POST, and how it went."""

    #: The ``webhook-id`` header: the same on every retry.
    id: str
    job_id: str
    owner: str
    url: str
    #: ``job.succeeded`` …
    type: str
    #: The exact body to send (and sign).
    payload: str
    #: ``pending``, ``delivered`` or ``failed``.
    status: str
    attempts: int
    next_attempt_at: datetime
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    finished_at: datetime | None


@dataclass
class MaintenanceReport:
    """What one maintenance pass changed."""

    reclaimed: int = 0
    expired: int = 0
    pruned: int = 0


def to_datetime(value: float | None) -> datetime | None:
    """An epoch-seconds column as an aware UTC datetime."""
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _at(value: float) -> datetime:
    """A required epoch-seconds column as an aware UTC datetime."""
    return datetime.fromtimestamp(value, UTC)


def row_to_job(row: RowMapping, *, deduplicated: bool = False) -> Job:
    """A ``jobs`` row as a `Job` (trusted data: built without re-validation)."""
    error = None
    if row["error_type"] is not None:
        error = JobError(type=ErrorType(row["error_type"]), message=row["error_message"] or "")
    return _trusted(
        Job,
        id=row["id"],
        kind=row["kind"],
        owner=row["owner"],
        scope=row["scope"],
        status=JobStatus(row["status"]),
        input=row["input"],
        output=row["output"],
        error=error,
        progress=row["progress"],
        message=row["message"],
        partial=row["partial"] or {},
        attempt=row["attempt"],
        max_attempts=row["max_attempts"],
        dedupe_key=row["dedupe_key"],
        priority=row["priority"],
        cost=row["cost"],
        cancel_requested=bool(row["cancel_requested"]),
        webhook=None if row["webhook"] is None else Webhook.model_construct(**row["webhook"]),
        created_at=_at(row["created_at"]),
        started_at=to_datetime(row["started_at"]),
        finished_at=to_datetime(row["finished_at"]),
        updated_at=_at(row["updated_at"]),
        run_at=_at(row["run_at"]),
        slow_at=_at(row["slow_at"]),
        expire_at=_at(row["expire_at"]),
        deduplicated=deduplicated,
    )


def _trusted(model: type[M], **values: Any) -> M:
    """``model.model_construct(**values)`` for values naming every field: what it does, without
    its per-field pass (aliases, defaults), which costs more than the rest of a row's reading.
    Claims turn every claimed row into a `Job`, and API reads every job they answer with.
    """
    instance = model.__new__(model)
    object.__setattr__(instance, "__dict__", values)
    object.__setattr__(instance, "__pydantic_fields_set__", set(values))
    object.__setattr__(instance, "__pydantic_extra__", None)
    object.__setattr__(instance, "__pydantic_private__", None)
    return instance


def row_to_event(row: RowMapping) -> Event:
    """An ``events`` row as an `Event`."""
    return Event(
        job_id=row["job_id"],
        seq=row["seq"],
        type=row["type"],
        data=row["data"],
        created_at=_at(row["created_at"]),
    )


def row_to_delivery(row: RowMapping) -> WebhookDelivery:
    """A ``webhook_deliveries`` row as a `WebhookDelivery`."""
    return WebhookDelivery(
        id=row["id"],
        job_id=row["job_id"],
        owner=row["owner"],
        url=row["url"],
        type=row["type"],
        payload=row["payload"],
        status=row["status"],
        attempts=row["attempts"],
        next_attempt_at=_at(row["next_attempt_at"]),
        last_status_code=row["last_status_code"],
        last_error=row["last_error"],
        created_at=_at(row["created_at"]),
        finished_at=to_datetime(row["finished_at"]),
    )
