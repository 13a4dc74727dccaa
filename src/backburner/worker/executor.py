"""Internal: one claimed job → one `Outcome`: run the handler, classify how it ended."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from ..context import Context, SyncContext
from ..errors import Fail, LeaseLost, Retry, StorageError
from ..jobs import ErrorType, JobError, JobStatus
from ..kinds import Kind
from ..retry import backoff
from ..states import after_error
from ..storage import Claim, Outcome
from .watchdog import HandlerStuck, LoopWatch

__all__ = ["Running", "StopReason", "execute"]

_MAX_MESSAGE = 2000


class StopReason:
    """Why the worker cancelled a running handler."""

    CANCELED = "canceled"
    LEASE_LOST = "lease_lost"
    SHUTDOWN = "shutdown"


@dataclass
class Running:
    """A job this worker holds: its claim, kind, context, task and deadline."""

    claim: Claim
    kind: Kind
    context: Context
    #: ``loop.time()`` at which the attempt must end.
    deadline: float
    #: True when the deadline is the job's ``expire_at`` rather than the kind's timeout.
    deadline_is_expiry: bool
    task: asyncio.Task[None] | None = None
    stop_reason: str | None = None
    #: Set once an outcome exists: a late heartbeat report must not cancel its write.
    finishing: bool = False
    sync_context: SyncContext | None = field(default=None, repr=False)
    #: ``time.monotonic()`` at the claim (for the run-time metric).
    claimed_at: float = field(default_factory=time.monotonic)
    #: Seconds from the job's ``run_at`` to its claim (for the wait-time metric).
    wait_s: float = 0.0


async def execute(run: Running, *, threads: Executor, watch: LoopWatch) -> Outcome | None:
    """Run the handler and decide the outcome; ``None`` when the job is no longer ours."""
    watch.deadlines[run.claim.job.id] = time.monotonic() + (
        run.deadline - asyncio.get_running_loop().time()
    )
    try:
        return await _execute(run, threads, watch)
    finally:
        watch.deadlines.pop(run.claim.job.id, None)
        if run.sync_context is not None:
            run.sync_context.stopped = True


async def _execute(run: Running, threads: Executor, watch: LoopWatch) -> Outcome | None:
    try:
        async with asyncio.timeout_at(run.deadline) as scope:
            value = await _call_handler(run, threads, watch)
        if run.stop_reason is not None:  # the handler swallowed its cancellation
            return _stopped(run)
        return _succeeded(run, value)
    except LeaseLost:
        return None
    except asyncio.CancelledError:
        if run.stop_reason is None:
            raise
        return _stopped(run)
    except HandlerStuck:
        return _past_deadline(run)
    except TimeoutError as exc:
        return _past_deadline(run) if scope.expired() else _errored(run, exc)
    except Fail as exc:
        return _failed(run, JobError(type=_error_type(exc.error_type), message=exc.reason))
    except Retry as exc:
        return _retry_or_fail(
            run, JobError(type=_error_type(exc.error_type), message=exc.reason), exc.after_s
        )
    except StorageError:
        # The database went away under the handler (a restart, a failover): not the job's
        # fault, so it goes back to the queue with its attempt unspent, as at a graceful stop.
        return Outcome(run.claim.lease, JobStatus.QUEUED, release=True)
    except Exception as exc:
        return _errored(run, exc)


async def _call_handler(run: Running, threads: Executor, watch: LoopWatch) -> Any:
    kind, job = run.kind, run.claim.job
    argument = kind.load_input(job.input)
    if kind.is_async:
        return await watch.track(job.id, kind.handler(run.context, argument))
    loop = asyncio.get_running_loop()
    run.sync_context = SyncContext(run.context, loop)
    return await loop.run_in_executor(threads, kind.handler, run.sync_context, argument)


def _succeeded(run: Running, value: Any) -> Outcome:
    try:
        output = run.kind.dump_output(value)
    except (ValidationError, ValueError, TypeError) as exc:
        message = f"the handler's output does not match the kind's output model: {exc}"
        return _retry_or_fail(run, JobError(type=ErrorType.INVALID_OUTPUT, message=_clip(message)))
    return Outcome(run.claim.lease, JobStatus.SUCCEEDED, output=output)


def _stopped(run: Running) -> Outcome | None:
    if run.stop_reason == StopReason.CANCELED:
        return Outcome(run.claim.lease, JobStatus.CANCELED)
    if run.stop_reason == StopReason.SHUTDOWN:
        return Outcome(run.claim.lease, JobStatus.QUEUED, release=True)
    return None


def _past_deadline(run: Running) -> Outcome:
    if run.deadline_is_expiry:
        message = "the job did not finish before it expired"
        return _failed(run, JobError(type=ErrorType.EXPIRED, message=message))
    timeout_s = run.kind.policy.timeout_s
    message = f"the attempt ran longer than its timeout of {timeout_s:g}s"
    return _retry_or_fail(run, JobError(type=ErrorType.TIMEOUT, message=message))


def _errored(run: Running, exc: Exception) -> Outcome:
    error = JobError(
        type=_error_type(getattr(exc, "error_type", None)),
        message=_clip(f"{type(exc).__name__}: {exc}"),
    )
    if getattr(exc, "retryable", True) is False:
        return _failed(run, error)
    return _retry_or_fail(run, error, getattr(exc, "retry_after_s", None))


def _retry_or_fail(run: Running, error: JobError, after_s: float | None = None) -> Outcome:
    tries = run.claim.job.attempt - run.claim.lease_expiries
    policy = run.kind.policy
    delay = after_s if after_s is not None else backoff(policy.backoff, tries)
    decision = after_error(
        tries=tries, max_attempts=run.claim.job.max_attempts, retryable=True, delay_s=delay
    )
    return Outcome(run.claim.lease, decision.status, error=error, delay_s=decision.delay_s)


def _failed(run: Running, error: JobError) -> Outcome:
    return Outcome(run.claim.lease, JobStatus.FAILED, error=error)


def _error_type(value: object) -> ErrorType:
    try:
        return ErrorType(str(value))
    except ValueError:
        return ErrorType.HANDLER_ERROR


def _clip(message: str) -> str:
    return message if len(message) <= _MAX_MESSAGE else message[: _MAX_MESSAGE - 1] + "…"
