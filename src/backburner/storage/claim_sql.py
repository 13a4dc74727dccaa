"""Internal: the claim — which owners wait, what runs, which jobs start, under a new lease.

One claim, in one transaction:

1. with limits that several workers could overshoot together, the dialect serialises claims
   (`SqlDialect.lock_claims`: PostgreSQL's advisory lock; SQLite's write lock already does);
2. lists the owners with queued jobs, going round from where the last claim stopped, one
   index probe each (`ix_jobs_queued_owner`, a loose index scan): never all queued jobs;
   and reads each listed owner's next few runnable jobs (`SqlDialect.waiting_heads`, one
   statement on PostgreSQL, which locks them ``FOR UPDATE SKIP LOCKED`` so that concurrent
   claims take different ones);
3. counts the running jobs by owner and kind (a read of the running jobs only; skipped for a
   lone owner without counted limits);
4. picks the jobs to start, fairly (`fair_share.allocate`), and starts them by id.
"""

from __future__ import annotations

import functools
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

__all__ = ["OWNERS_PER_CLAIM", "claim_rows", "per_owner", "started_values"]

#: Owners listed per claim, at least: a claim's slots go round this many owners.
OWNERS_PER_CLAIM = 64

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
    kinds = sorted({kind for request in requests for kind in request.kinds})
    owners, found = d.waiting_heads(conn, after, max(OWNERS_PER_CLAIM, limit), kinds, limit)
    if not owners:
        return [], after
    # A lone owner with no counted limit takes every slot: its running jobs do not matter.
    counted = len(owners) > 1 or limits.strict
    running = (
        Running.of([tuple(r) for r in conn.execute(_RUNNING_COUNTS)]) if counted else Running()
    )
    heads: dict[str, list[Head]] = {}
    for head in found:
        heads.setdefault(head.owner, []).append(head)
    chosen = allocate(heads, owners, running, limits, requests, limit)
    if not chosen:
        return [], owners[-1]
    worker_id, token, lease_s = start
    params = {"ids": [h.id for h in chosen], "worker_id": worker_id, "token": token}
    rows = conn.execute(_start_statement(d), {**params, "lease_s": lease_s}).mappings()
    by_id = {row["id"]: row for row in rows}
    # RETURNING follows no order: put them back in the order picked.
    return [by_id[h.id] for h in chosen if h.id in by_id], chosen[-1].owner


def per_owner(limit: int, owners: int) -> int:
    """How many of each listed owner's next jobs a claim of ``limit`` reads: all it could
    take when few owners wait, else about twice an even share (the dialects' statements
    compute this)."""
    return limit if owners <= 4 else min(limit, -(-2 * limit // owners) + 1)


@functools.cache
def _start_statement(d: SqlDialect) -> sa.Update:
    """Start the jobs ``ids`` (queued, and held by this transaction) under the new lease."""
    now = d.now()
    return (
        sa.update(jobs)
        .where(
            jobs.c.id.in_(sa.bindparam("ids", expanding=True)),
            jobs.c.status == JobStatus.QUEUED.value,
        )
        .values(**started_values(now))
        .returning(*jobs.c)
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
