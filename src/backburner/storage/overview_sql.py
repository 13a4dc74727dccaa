"""Internal: what the operator's overview reads — the queue by kind, the running jobs with
their leases, jobs finished per minute, and the failed jobs of a kind.

The page asks every few seconds, so each statement reads an index made for it and never
the whole history of finished jobs: the status conditions are written as literals, so the
planner matches them to the partial indexes (``ix_jobs_queued_owner``,
``ix_jobs_running_lease``, ``ix_jobs_failed_kind``; ``ix_jobs_finished`` for the window).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.sql.elements import ColumnElement

from ..jobs import JobStatus
from .dialect import SqlDialect
from .records import to_datetime
from .tables import jobs

__all__ = [
    "FinishedCount",
    "QueueCount",
    "RunningJob",
    "count_queue",
    "failed_job_ids",
    "failed_select",
    "finished_by_minute",
    "finished_select",
    "list_running_jobs",
    "queue_select",
    "running_select",
]

#: The statuses the queue table counts: waiting, running, and waiting for an operator.
QUEUE_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.FAILED)
_FINISHED = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED)


@dataclass(frozen=True)
class QueueCount:
    """How many jobs of a kind have a status."""

    kind: str
    status: str
    count: int


@dataclass(frozen=True)
class RunningJob:
    """A running job, with the worker holding it and its lease."""

    id: str
    kind: str
    owner: str
    worker_id: str | None
    started_at: datetime | None
    lease_expires_at: datetime | None
    #: Seconds until the lease expires, by the database's clock (negative: overdue).
    lease_left_s: float | None
    progress: float | None
    message: str | None


@dataclass(frozen=True)
class FinishedCount:
    """How many jobs reached a status within the minute starting at ``minute``."""

    minute: datetime
    status: str
    count: int


def _is(status: JobStatus) -> ColumnElement[bool]:
    """``status = '<value>'`` with the value inline: a bound parameter hides from the
    planner that the condition is a partial index's own (PostgreSQL's generic plans)."""
    return jobs.c.status == sa.literal_column(f"'{status.value}'")


def count_queue(conn: Connection, d: SqlDialect) -> list[QueueCount]:
    """count_queue: queued, running and failed jobs counted by kind — one ``GROUP BY``
    per status, each over its partial index (not the succeeded jobs, most of the table)."""
    rows = conn.execute(queue_select()).all()
    order = {status.value: n for n, status in enumerate(QUEUE_STATUSES)}
    counts = [QueueCount(kind, status, int(n)) for kind, status, n in rows]
    return sorted(counts, key=lambda c: (c.kind, order[c.status]))


def queue_select() -> sa.CompoundSelect[Any]:
    """`count_queue`'s statement (its query plan is tested)."""
    return sa.union_all(
        *(
            sa.select(
                jobs.c.kind, sa.literal(status.value).label("status"), sa.func.count().label("n")
            )
            .where(_is(status))
            .group_by(jobs.c.kind)
            for status in QUEUE_STATUSES
        )
    )


def list_running_jobs(conn: Connection, d: SqlDialect, limit: int) -> list[RunningJob]:
    """list_running_jobs: up to ``limit`` running jobs, the lease ending soonest first (the
    order of ``ix_jobs_running_lease``: a stuck worker's jobs come to the top)."""
    return [_running(row) for row in conn.execute(running_select(d, limit)).mappings()]


def running_select(d: SqlDialect, limit: int) -> sa.Select[Any]:
    """`list_running_jobs`'s statement."""
    left = (jobs.c.lease_expires_at - d.now()).label("lease_left_s")
    return (
        sa.select(
            jobs.c.id,
            jobs.c.kind,
            jobs.c.owner,
            jobs.c.worker_id,
            jobs.c.started_at,
            jobs.c.lease_expires_at,
            left,
            jobs.c.progress,
            jobs.c.message,
        )
        .where(_is(JobStatus.RUNNING))
        .order_by(jobs.c.lease_expires_at, jobs.c.id)
        .limit(limit)
    )


def _running(row: sa.RowMapping) -> RunningJob:
    left = row["lease_left_s"]
    return RunningJob(
        id=row["id"],
        kind=row["kind"],
        owner=row["owner"],
        worker_id=row["worker_id"],
        started_at=to_datetime(row["started_at"]),
        lease_expires_at=to_datetime(row["lease_expires_at"]),
        lease_left_s=None if left is None else float(left),
        progress=row["progress"],
        message=row["message"],
    )


def finished_by_minute(
    conn: Connection, d: SqlDialect, minutes: int
) -> tuple[datetime, list[FinishedCount]]:
    """finished_by_minute: jobs that finished in the current minute and the ``minutes - 1``
    before it, counted by minute and status; with the first minute of that window.

    Reads ``ix_jobs_finished`` from the window's start (the database's clock, read first).
    """
    now = float(conn.execute(sa.select(d.now())).scalar_one())
    since = (math.floor(now / 60) - minutes + 1) * 60.0
    counts = [
        FinishedCount(_at(int(row.minute) * 60.0), row.status, int(row.n))
        for row in conn.execute(finished_select(since))
    ]
    return _at(since), counts


def finished_select(since: float) -> sa.Select[Any]:
    """`finished_by_minute`'s count from ``since`` (epoch seconds)."""
    minute = _minute_of(jobs.c.finished_at).label("minute")
    return (
        sa.select(minute, jobs.c.status, sa.func.count().label("n"))
        .where(jobs.c.finished_at >= since, jobs.c.status.in_([s.value for s in _FINISHED]))
        .group_by(minute, jobs.c.status)
    )


def _minute_of(seconds: ColumnElement[Any]) -> ColumnElement[Any]:
    """``floor(seconds / 60)``, the same on every dialect: a cast to an integer truncates on
    SQLite but rounds on PostgreSQL, so a cast that rounded up is taken back by one (and
    ``floor()`` itself is missing from SQLite builds without the math functions)."""
    cast = sa.cast(seconds / 60, sa.BigInteger)
    return cast - sa.case((cast * 60 > seconds, 1), else_=0)


def _at(seconds: float) -> datetime:
    at = to_datetime(seconds)
    assert at is not None
    return at


def failed_job_ids(conn: Connection, d: SqlDialect, kind: str, limit: int) -> list[str]:
    """failed_job_ids: up to ``limit`` failed jobs of ``kind``, oldest first (ids sort by
    creation time): a range of ``ix_jobs_failed_kind``, read in its order."""
    return list(conn.execute(failed_select(kind, limit)).scalars())


def failed_select(kind: str, limit: int) -> sa.Select[Any]:
    """`failed_job_ids`'s statement."""
    return (
        sa.select(jobs.c.id)
        .where(_is(JobStatus.FAILED), jobs.c.kind == kind)
        .order_by(jobs.c.id)
        .limit(limit)
    )
