"""Jobs as users see them: `Job`, its `JobStatus`, its `JobError` and its `Event` log."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator

__all__ = [
    "ACTIVE_STATUSES",
    "TERMINAL_STATUSES",
    "ErrorType",
    "Event",
    "Job",
    "JobError",
    "JobStatus",
    "Webhook",
    "WebhookEvent",
]


class JobStatus(StrEnum):
    """Where a job is in its life. ``slow`` is not a status: see `Job.slow`."""

    #: Waiting for a worker (new, retrying after backoff, or put back by a worker).
    QUEUED = "queued"
    #: A worker holds its lease and runs its handler.
    RUNNING = "running"
    #: The handler returned; ``output`` holds the result.
    SUCCEEDED = "succeeded"
    #: No more attempts; ``error`` says why.
    FAILED = "failed"
    #: Canceled by a user before it finished.
    CANCELED = "canceled"


#: Statuses a job leaves by itself.
ACTIVE_STATUSES = frozenset({JobStatus.QUEUED, JobStatus.RUNNING})
#: Statuses a job stays in until a manual retry or delete.
TERMINAL_STATUSES = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED})


class ErrorType(StrEnum):
    """The closed set of reasons a job fails; ``docs/errors.md`` explains each."""

    #: The handler raised an exception (or ``bb.Fail``) and no attempts remain.
    HANDLER_ERROR = "handler_error"
    #: An attempt ran past the kind's ``timeout`` and no attempts remain.
    TIMEOUT = "timeout"
    #: The job's worker died (its lease expired) 3 times: the job is probably killing it.
    WORKER_LOST = "worker_lost"
    #: The job was still unfinished past the kind's ``expire_after``.
    EXPIRED = "expired"
    #: An AI provider kept failing (5xx, 429, connection errors) or refused the request.
    PROVIDER_ERROR = "provider_error"
    #: The handler's return value did not match the kind's output model.
    INVALID_OUTPUT = "invalid_output"


class JobError(BaseModel):
    """Why a job failed (or why its last attempt did, while it waits to retry)."""

    model_config = ConfigDict(frozen=True)

    #: One of `ErrorType`.
    type: ErrorType
    #: A readable message: the exception's text, never a stack trace.
    message: str


#: The status changes a webhook can be sent for.
WebhookEvent = Literal["queued", "running", "succeeded", "failed", "canceled"]
_ENDINGS: tuple[WebhookEvent, ...] = ("succeeded", "failed", "canceled")


class Webhook(BaseModel):
    """Where to POST a job's status changes, and which ones (by default: how it ended).

    Deliveries are signed (Standard Webhooks) with the owner's secret and retried with
    backoff; `backburner.webhooks.verify` checks them on the receiving end.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: An ``http(s)`` URL with a public address (or one the operator allow-listed).
    url: str = Field(min_length=1, max_length=2048)
    events: list[WebhookEvent] = Field(
        default_factory=lambda: list(_ENDINGS), min_length=1, max_length=5
    )

    @field_validator("events")
    @classmethod
    def _unique(cls, events: list[WebhookEvent]) -> list[WebhookEvent]:
        return list(dict.fromkeys(events))


class Job(BaseModel):
    """One request of one kind by one owner; the same field names in Python, JSON and SQL."""

    model_config = ConfigDict(frozen=True)

    id: str
    kind: str
    owner: str
    scope: str | None = None
    status: JobStatus
    input: Any = None
    output: Any = None
    error: JobError | None = None
    #: Fraction done, 0–1, or ``None`` when unknown.
    progress: float | None = None
    #: The handler's latest message ("Generating scene 3/7…").
    message: str | None = None
    #: Partial results by key, visible while the job runs.
    partial: dict[str, Any] = Field(default_factory=dict)
    #: Which try this is (1 on the first run; 0 while it has never started).
    attempt: int = 0
    #: The kind's attempt budget when the job was submitted.
    max_attempts: int = 1
    dedupe_key: str | None = None
    priority: int = 0
    cost: float = 0
    #: True when a cancel was asked for and the running handler has not stopped yet.
    cancel_requested: bool = False
    #: Where this job's status changes are POSTed, if anywhere.
    webhook: Webhook | None = None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    updated_at: datetime
    #: Not before this time will a worker start it (later than now while backing off).
    run_at: datetime
    #: After this time an active job counts as slow.
    slow_at: datetime
    #: After this time an unfinished job fails with error type ``expired``.
    expire_at: datetime
    #: True when `submit` returned an already existing job for the dedupe key.
    deduplicated: bool = False

    @computed_field  # type: ignore[prop-decorator]
    @property
    def slow(self) -> bool:
        """Still queued or running, and older than the kind's ``slow_after``."""
        return self.status in ACTIVE_STATUSES and datetime.now(UTC) >= self.slow_at

    @property
    def active(self) -> bool:
        """Queued or running."""
        return self.status in ACTIVE_STATUSES

    @property
    def finished(self) -> bool:
        """Succeeded, failed or canceled."""
        return self.status in TERMINAL_STATUSES


class Event(BaseModel):
    """One entry in a job's event log; ``seq`` counts from 1 per job."""

    model_config = ConfigDict(frozen=True)

    job_id: str
    seq: int
    #: ``status``, ``progress``, ``partial`` or ``cancel_requested``.
    type: str
    data: dict[str, Any]
    created_at: datetime
