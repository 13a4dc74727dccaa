"""Internal: the claim — which owners wait, what runs, which jobs start, under a new lease.

One claim, in one transaction:

1. with limits that several workers could overshoot together, the dialect serialises claims
   (`SqlDialect.lock_claims`: PostgreSQL's advisory lock; SQLite's write lock already does);
2. counts the running jobs by owner and kind (a read of the running jobs only);
3. lists the owners with queued jobs, going round from where the last claim stopped, one
   index probe each (`ix_jobs_queued_owner`, a loose index scan): never all queued jobs;
4. reads each owner's next few runnable jobs (`SqlDialect.queued_heads`; PostgreSQL locks
   them ``FOR UPDATE SKIP LOCKED``, so concurrent claims take different ones);
5. picks the jobs to start, fairly (`fair_share.allocate`), and starts them by id.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, RowMapping
from sqlalchemy.sql.elements import ColumnElement

from ..jobs import JobStatus
from .dialect import SqlDialect
from .fair_share import ClaimLimits, Head, Running, allocate
from .records import ClaimRequest
from .tables import jobs

__all__ = ["claim_rows", "started_values"]

#: Owners listed per claim, at least: a claim's slots go round this many owners.
OWNERS_PER_CLAIM = 64

#: The owners with queued jobs after ``:after``, in order, at most ``:n``: each step one
#: probe of ``ix_jobs_queued_owner`` for the next owner (a loose index scan), so the cost is
#: the number of owners listed, whatever their backlogs. Plain SQL both dialects run.
_QUEUED_OWNERS = sa.text(
    """
WITH RECURSIVE waiting(owner) AS (
    SELECT (SELECT owner FROM jobs WHERE status = 'queued' AND owner > :after
            ORDER BY owner LIMIT 1)
    UNION ALL
    SELECT (SELECT owner FROM jobs WHERE status = 'queued' AND owner > waiting.owner
            ORDER BY owner LIMIT 1)
    FROM waiting WHERE waiting.owner IS NOT NULL
)
SELECT owner FROM waiting WHERE owner IS NOT NULL LIMIT :n
"""
)
_RUNNING_COUNTS = (
    sa.select(jobs.c.owner, jobs.c.kind, sa.func.count())
    .where(jobs.c.status == JobStatus.RUNNING.value)
    .group_by(jobs.c.owner, jobs.c.kind)
)


def claim_rows(
    conn: Connection,
    d: SqlDialect,
    start: tuple[str, str, float],
    requests: Sequence[ClaimRequest],
    limit: int,
    limits: ClaimLimits,
    after: str,
) -> tuple[Sequence[RowMapping], str]:
    """Start up to ``limit`` jobs under the lease ``start`` (worker id, token, seconds):
    their rows, in the order picked, and the owner the next claim goes round from."""
    requests = [r for r in requests if r.limit > 0 and r.kinds]
    if not requests or limit <= 0:
        return [], after
    if limits.strict:
        d.lock_claims(conn)
    running = Running.of([tuple(row) for row in conn.execute(_RUNNING_COUNTS)])
    owners = _owners_in_turn(conn, after, max(OWNERS_PER_CLAIM, limit))
    if limits.owner_running is not None:
        owners = [o for o in owners if running.by_owner[o] < limits.owner_running]
    if not owners:
        return [], after
    kinds = sorted({kind for request in requests for kind in request.kinds})
    per_owner = limit if len(owners) <= 4 else min(limit, -(-2 * limit // len(owners)) + 1)
    heads: dict[str, list[Head]] = {}
    for head in d.queued_heads(conn, owners, kinds, per_owner):
        heads.setdefault(head.owner, []).append(head)
    chosen = allocate(heads, owners, running, limits, requests, limit)
    if not chosen:
        return [], owners[-1]
    return _start(conn, d, [h.id for h in chosen], start), chosen[-1].owner


def _owners_in_turn(conn: Connection, after: str, n: int) -> list[str]:
    """Up to ``n`` owners with queued jobs: those after ``after``, then from the first."""
    owners = list(conn.execute(_QUEUED_OWNERS, {"after": after, "n": n}).scalars())
    if len(owners) < n and after:
        wrapped = conn.execute(_QUEUED_OWNERS, {"after": "", "n": n - len(owners)}).scalars()
        seen = set(owners)
        owners += [o for o in wrapped if o <= after and o not in seen]
    return owners


def _start(
    conn: Connection, d: SqlDialect, ids: list[str], start: tuple[str, str, float]
) -> list[RowMapping]:
    """Start the jobs ``ids`` (queued, and held by this transaction) under the new lease."""
    worker_id, token, lease_s = start
    now = d.now()
    stmt = (
        sa.update(jobs)
        .where(jobs.c.id.in_(ids), jobs.c.status == JobStatus.QUEUED.value)
        .values(**started_values(now, worker_id, token, lease_s))
        .returning(*jobs.c)
    )
    rows = {row["id"]: row for row in conn.execute(stmt).mappings()}
    return [rows[i] for i in ids if i in rows]  # RETURNING follows no order: the picked one


def started_values(
    now: ColumnElement[Any], worker_id: str, token: str, lease_s: float
) -> dict[str, Any]:
    """What a claim sets on each job it starts: running under the new lease, one more
    attempt, its next event's ``seq``."""
    return {
        "status": JobStatus.RUNNING.value,
        "attempt": jobs.c.attempt + 1,
        "worker_id": worker_id,
        "lease_token": token,
        "lease_expires_at": now + lease_s,
        "started_at": sa.func.coalesce(jobs.c.started_at, now),
        "updated_at": now,
        "event_seq": jobs.c.event_seq + 1,
    }
