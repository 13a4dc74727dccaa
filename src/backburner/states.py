"""The job lifecycle and the pure decisions that move jobs through it.

```
             submit
               │
               ▼        claim
           ┌────────┐ ───────────▶ ┌─────────┐  handler returns   ┌───────────┐
      ┌───▶│ queued │              │ running │ ─────────────────▶ │ succeeded │
      │    └────────┘ ◀─────────── └─────────┘                    └───────────┘
      │      │   │   retryable error (backoff),   │  │
      │      │   │   lease expired, shutdown      │  │ no attempts left, Fail, expired,
      │      │   │                                │  │ lease expired 3 times
      │      │   └──── expired ──────────────┐    │  ▼
      │      │                               └──▶ ┌────────┐
      │      └──── cancel ────────┐               │ failed │
      │                           ▼               └────────┘
      │                      ┌──────────┐  ◀── cancel ─┘(running: via its worker)
      └── manual retry ───── │ canceled │
          (failed too)       └──────────┘
```
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import InvalidTransition
from .jobs import ErrorType, JobStatus

__all__ = [
    "LEASE_EXPIRIES_BEFORE_LOST",
    "TRANSITIONS",
    "ErrorOutcome",
    "LeaseExpiryOutcome",
    "after_error",
    "after_lease_expiry",
    "check_transition",
]

Q, R, S, F, C = (
    JobStatus.QUEUED,
    JobStatus.RUNNING,
    JobStatus.SUCCEEDED,
    JobStatus.FAILED,
    JobStatus.CANCELED,
)

#: Every allowed move, and the action that makes it.
TRANSITIONS: dict[tuple[JobStatus, JobStatus], str] = {
    (Q, R): "claimed",
    (Q, C): "canceled",
    (Q, F): "expired",
    (R, S): "succeeded",
    (R, F): "failed",
    (R, C): "canceled",
    (R, Q): "requeued",
    (F, Q): "retried",
    (C, Q): "retried",
}

#: A job whose lease expires this many times fails with ``worker_lost``.
LEASE_EXPIRIES_BEFORE_LOST = 3


def check_transition(current: JobStatus, target: JobStatus, action: str, job_id: str) -> None:
    """Raise `InvalidTransition` unless ``current → target`` is the table's ``action``.

    ``check_transition(job.status, JobStatus.QUEUED, "retried", job.id)`` passes for a failed
    job and refuses a running one (running → queued is "requeued", the worker's move).
    """
    if TRANSITIONS.get((current, target)) == action:
        return
    verb = {"canceled": "cancel", "retried": "retry"}.get(action, action)
    allowed = " or ".join(
        f.value for (f, t), a in TRANSITIONS.items() if t is target and a == action
    )
    already = "already " if current in (JobStatus.SUCCEEDED, JobStatus.FAILED, target) else ""
    raise InvalidTransition(
        f"cannot {verb} job {job_id}: it is {already}{current.value} "
        f"(only {allowed} jobs can be {action})"
    )


@dataclass(frozen=True)
class ErrorOutcome:
    """What happens to a running job whose attempt raised."""

    #: ``queued`` (try again after ``delay_s``) or ``failed``.
    status: JobStatus
    delay_s: float = 0.0


def after_error(*, tries: int, max_attempts: int, retryable: bool, delay_s: float) -> ErrorOutcome:
    """Retry after ``delay_s`` while attempts remain and the error is retryable; else fail.

    ``tries`` counts attempts that ended in the handler (crashes of the worker do not count).
    """
    if retryable and tries < max_attempts:
        return ErrorOutcome(JobStatus.QUEUED, delay_s)
    return ErrorOutcome(JobStatus.FAILED)


@dataclass(frozen=True)
class LeaseExpiryOutcome:
    """What happens to a running job whose worker stopped renewing its lease."""

    status: JobStatus
    error_type: ErrorType | None = None
    message: str | None = None


def after_lease_expiry(
    *, lease_expiries: int, cancel_requested: bool, past_expiry: bool
) -> LeaseExpiryOutcome:
    """Decide the fate of a job whose lease has just expired for the ``lease_expiries``-th time."""
    if cancel_requested:
        return LeaseExpiryOutcome(JobStatus.CANCELED)
    if past_expiry:
        return LeaseExpiryOutcome(
            JobStatus.FAILED, ErrorType.EXPIRED, "the job did not finish before it expired"
        )
    if lease_expiries >= LEASE_EXPIRIES_BEFORE_LOST:
        return LeaseExpiryOutcome(
            JobStatus.FAILED,
            ErrorType.WORKER_LOST,
            f"the job's worker stopped {lease_expiries} times while running it",
        )
    return LeaseExpiryOutcome(JobStatus.QUEUED)
