"""Internal: the parts of a claim both dialects share — which jobs, what starting sets.

Each dialect's ``claim`` wraps `runnable` its own way (SQLite: ``WHERE id IN (…)`` under its
write lock; PostgreSQL: a CTE ``FOR UPDATE SKIP LOCKED``) and applies `started_values`.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from ..jobs import JobStatus
from .records import ClaimRequest
from .tables import jobs

__all__ = ["claim_params", "runnable", "started_values"]


def runnable(now: ColumnElement[Any]) -> sa.Select[tuple[str]]:
    """The ids of the queued jobs due by ``now`` of the ``kinds`` bound, in claim order
    (priority, then ``run_at``, then id: `ix_jobs_queued`'s order), at most ``limit``."""
    return (
        sa.select(jobs.c.id)
        .where(
            jobs.c.status == JobStatus.QUEUED.value,
            jobs.c.run_at <= now,
            jobs.c.kind.in_(sa.bindparam("kinds", expanding=True)),
        )
        .order_by(jobs.c.priority.desc(), jobs.c.run_at, jobs.c.id)
        .limit(sa.bindparam("limit", type_=sa.Integer))
    )


def started_values(now: ColumnElement[Any]) -> dict[str, Any]:
    """What a claim sets on each job it starts: running under the new lease, one more
    attempt, its next event's ``seq``."""
    return {
        "status": JobStatus.RUNNING.value,
        "attempt": jobs.c.attempt + 1,
        "worker_id": sa.bindparam("worker_id", type_=sa.String),
        "lease_token": sa.bindparam("token", type_=sa.String),
        "lease_expires_at": now + sa.bindparam("lease_s", type_=sa.Float),
        "started_at": sa.func.coalesce(jobs.c.started_at, now),
        "updated_at": now,
        "event_seq": jobs.c.event_seq + 1,
    }


def claim_params(
    worker_id: str, token: str, request: ClaimRequest, lease_s: float
) -> dict[str, Any]:
    """The parameters of a statement built from `runnable` and `started_values`."""
    return {
        "kinds": list(request.kinds),
        "limit": request.limit,
        "worker_id": worker_id,
        "token": token,
        "lease_s": lease_s,
    }
