"""Internal: counts of jobs for metrics — one ``GROUP BY`` over the jobs table, at scrape time."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy import Connection

from ..jobs import JobStatus
from .dialect import SqlDialect
from .tables import jobs

__all__ = ["JobCount", "count_jobs"]


@dataclass(frozen=True)
class JobCount:
    """How many jobs share a kind, a status, an error type and runnability."""

    #: The jobs' kind.
    kind: str
    #: The jobs' status (``queued``, ``running``, …).
    status: str
    #: The error type of failed jobs (and of queued jobs waiting to retry), else ``None``.
    error_type: str | None
    #: Queued with ``run_at`` already past by the database's clock: a worker could claim them.
    runnable: bool
    #: How many jobs.
    count: int


def count_jobs(conn: Connection, d: SqlDialect) -> list[JobCount]:
    """count_jobs: every job counted once, grouped by (kind, status, error_type, runnable).

    A full scan of ``jobs`` — fine for a scrape every few seconds over a table that
    retention pruning keeps bounded; it takes no locks (a plain read, WAL on SQLite).
    """
    runnable = sa.case(
        (sa.and_(jobs.c.status == JobStatus.QUEUED.value, jobs.c.run_at <= d.now()), 1),
        else_=0,
    ).label("runnable")
    stmt = sa.select(
        jobs.c.kind, jobs.c.status, jobs.c.error_type, runnable, sa.func.count().label("n")
    ).group_by(jobs.c.kind, jobs.c.status, jobs.c.error_type, runnable)
    return [
        JobCount(row.kind, row.status, row.error_type, bool(row.runnable), int(row.n))
        for row in conn.execute(stmt)
    ]
