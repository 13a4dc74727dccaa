"""``app.operations``: what an operator sees and does across every owner — the queue, the
running jobs and their workers, the last hour's throughput, and failed jobs retried in bulk.

```python
overview = await app.operations.overview()
print(overview.totals.failure_rate, [w.id for w in overview.workers if not w.alive])
await app.operations.retry_failed("chapter")     # after fixing what made them fail
```
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from pydantic import BaseModel

from .errors import (
    InsufficientCredits,
    InvalidInput,
    InvalidTransition,
    JobNotFound,
    LimitExceeded,
)
from .storage.overview_sql import FinishedCount, QueueCount, RunningJob
from .storage.workers_sql import WorkerStatus

if TYPE_CHECKING:
    from .app import Backburner

__all__ = ["HourTotals", "MinuteCounts", "Operations", "Overview", "RetryReport", "WorkerView"]

#: Minutes of throughput an overview shows: the current one and the 59 before it.
MINUTES = 60
#: Why a job of a bulk retry stayed as it was: the per-job retry refused it.
_REFUSALS = (InvalidTransition, JobNotFound, LimitExceeded, InsufficientCredits)


class WorkerView(BaseModel):
    """A worker process as last heard of (``alive``: running and heard of within its lease)."""

    id: str
    host: str
    pid: int
    kinds: list[str]
    concurrency: int
    #: Jobs it held at its last heartbeat.
    running: int
    started_at: datetime
    heartbeat_at: datetime
    stopped_at: datetime | None
    #: Seconds since its last heartbeat, by the database's clock.
    silent_s: float
    alive: bool

    @classmethod
    def of(cls, status: WorkerStatus) -> WorkerView:
        """The view of a registry row."""
        info = status.info
        return cls(
            id=info.id,
            host=info.host,
            pid=info.pid,
            kinds=list(info.kinds),
            concurrency=info.concurrency,
            running=status.running,
            started_at=status.started_at,
            heartbeat_at=status.heartbeat_at,
            stopped_at=status.stopped_at,
            silent_s=round(status.silent_s, 3),
            alive=status.alive,
        )


class MinuteCounts(BaseModel):
    """Jobs that finished within the minute starting at ``minute``, by status."""

    minute: datetime
    succeeded: int = 0
    failed: int = 0
    canceled: int = 0


class HourTotals(BaseModel):
    """The throughput minutes summed; ``failure_rate`` is ``failed / (succeeded + failed)``
    (canceled jobs are no failure), ``None`` when neither happened."""

    succeeded: int
    failed: int
    canceled: int
    failure_rate: float | None


class Overview(BaseModel):
    """One look at the whole system, for the operator's page."""

    #: Queued, running and failed jobs counted by kind (sorted by kind).
    queue: list[QueueCount]
    #: Running jobs, the lease ending soonest first (at most ``running_limit``).
    running: list[RunningJob]
    #: Workers heard of most recently first (at most ``workers_limit``).
    workers: list[WorkerView]
    #: Every minute of the last hour, oldest first, minutes with nothing finished included.
    throughput: list[MinuteCounts]
    totals: HourTotals


class Skipped(BaseModel):
    """A failed job a bulk retry left as it was, and why."""

    id: str
    detail: str


class RetryReport(BaseModel):
    """What a bulk retry re-queued (the same ids), and what it left failed."""

    kind: str
    retried: list[str]
    count: int
    skipped: list[Skipped]


class Operations:
    """``app.operations``: the operator's reads and bulk actions, across every owner."""

    def __init__(self, app: Backburner) -> None:
        self._app = app

    async def overview(self, *, running_limit: int = 100, workers_limit: int = 50) -> Overview:
        """The queue by kind, running jobs, workers and the last hour's throughput."""
        _check_limit("running_limit", running_limit)
        _check_limit("workers_limit", workers_limit)
        storage = await self._app.open()
        queue, running, workers, (since, finished) = await asyncio.gather(
            storage.count_queue(),
            storage.list_running_jobs(running_limit),
            storage.list_workers(workers_limit),
            storage.finished_by_minute(MINUTES),
        )
        minutes = _by_minute(since, finished)
        return Overview(
            queue=queue,
            running=running,
            workers=[WorkerView.of(w) for w in workers],
            throughput=minutes,
            totals=_totals(minutes),
        )

    async def workers(self, *, limit: int = 50) -> list[WorkerView]:
        """The ``limit`` workers heard of most recently, newest first."""
        _check_limit("limit", limit)
        return [WorkerView.of(w) for w in await (await self._app.open()).list_workers(limit)]

    async def retry_failed(self, kind: str, *, limit: int = 100) -> RetryReport:
        """Re-queue up to ``limit`` failed jobs of ``kind``, oldest first, each through
        `Backburner.retry` (so credits, queue limits and dedupe keys hold for each); a job
        that retry refuses stays failed and is listed in ``skipped`` with the reason."""
        self._app.kinds.get(kind)  # UnknownKind ("kind: …") for a kind nothing handles
        _check_limit("limit", limit)
        ids = await (await self._app.open()).failed_job_ids(kind, limit)
        retried: list[str] = []
        skipped: list[Skipped] = []
        for job_id in ids:
            try:
                await self._app.retry(job_id)
            except _REFUSALS as exc:
                skipped.append(Skipped(id=job_id, detail=str(exc)))
            else:
                retried.append(job_id)
        return RetryReport(kind=kind, retried=retried, count=len(retried), skipped=skipped)


def _check_limit(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1000:
        raise InvalidInput(f"{name}: must be a whole number from 1 to 1000, got {value!r}")


def _by_minute(since: datetime, counts: list[FinishedCount]) -> list[MinuteCounts]:
    """Every minute from ``since``, with its counts (zero where nothing finished)."""
    found: defaultdict[datetime, dict[str, int]] = defaultdict(dict)
    for count in counts:
        found[count.minute][count.status] = count.count
    minutes = (since + timedelta(minutes=n) for n in range(MINUTES))
    return [MinuteCounts(minute=m, **found.get(m, {})) for m in minutes]


def _totals(minutes: list[MinuteCounts]) -> HourTotals:
    succeeded = sum(m.succeeded for m in minutes)
    failed = sum(m.failed for m in minutes)
    ended = succeeded + failed
    return HourTotals(
        succeeded=succeeded,
        failed=failed,
        canceled=sum(m.canceled for m in minutes),
        failure_rate=round(failed / ended, 4) if ended else None,
    )
