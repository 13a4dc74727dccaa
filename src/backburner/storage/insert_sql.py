"""Internal: the submit's SQL — a new queued job and its first event, or the job an
idempotency or dedupe key already names; its checks (the owner's submission rate and queued
limit, the cost's reservation) in the same transaction, so a refused submit counts for
nothing; and plain submits inserted many at a time.
"""

from __future__ import annotations

import functools
from collections import Counter
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy import Connection, RowMapping
from sqlalchemy.exc import IntegrityError

from ..errors import LimitExceeded
from ..jobs import ACTIVE_STATUSES, Job, JobStatus
from .credits_sql import RESERVED, reserve
from .dialect import SqlDialect
from .events_sql import append_events
from .ratelimit_sql import take_submit_slots
from .records import NewJob, row_to_job
from .tables import idempotency_keys, jobs

__all__ = [
    "IDEMPOTENCY_WINDOW_S",
    "JobRowsDialect",
    "check_queued",
    "coalescible",
    "insert_job",
    "insert_plain_jobs",
]

_ACTIVE = [s.value for s in ACTIVE_STATUSES]

#: How long an Idempotency-Key keeps returning the job it first made.
IDEMPOTENCY_WINDOW_S = 86400.0


def insert_job(conn: Connection, d: SqlDialect, new: NewJob) -> Job:
    """Insert a queued job and its first event — unless its idempotency or dedupe key
    already names one, which is then returned (``deduplicated``)."""
    if new.idempotency_key is None:
        return _insert_or_dedupe(conn, d, new)
    earlier = _idempotent_job(conn, d, new.owner, new.idempotency_key)
    if earlier is not None:
        return row_to_job(earlier, deduplicated=True)
    job = _insert_or_dedupe(conn, d, new)
    _remember_idempotency(conn, d, new.owner, new.idempotency_key, job.id)
    return job


def _idempotent_job(conn: Connection, d: SqlDialect, owner: str, key: str) -> RowMapping | None:
    """The job an Idempotency-Key made within the window, if it still exists."""
    stmt = (
        sa.select(jobs)
        .join(idempotency_keys, idempotency_keys.c.job_id == jobs.c.id)
        .where(
            idempotency_keys.c.owner == owner,
            idempotency_keys.c.key == key,
            idempotency_keys.c.created_at > d.now() - IDEMPOTENCY_WINDOW_S,
        )
    )
    return conn.execute(stmt).mappings().first()


def _remember_idempotency(
    conn: Connection, d: SqlDialect, owner: str, key: str, job_id: str
) -> None:
    """Point the key at ``job_id``, replacing an expired (or orphaned) entry."""
    entry = (idempotency_keys.c.owner == owner) & (idempotency_keys.c.key == key)
    conn.execute(sa.delete(idempotency_keys).where(entry))
    conn.execute(
        sa.insert(idempotency_keys).values(owner=owner, key=key, job_id=job_id, created_at=d.now())
    )


def _insert_or_dedupe(conn: Connection, d: SqlDialect, new: NewJob) -> Job:
    if new.dedupe_key is not None:
        existing = _find_deduplicated(conn, new)
        if existing is not None:
            return row_to_job(existing, deduplicated=True)
        try:
            with conn.begin_nested():
                return _insert(conn, d, new)
        except IntegrityError:
            # Another process inserted the same active key between our look and our insert.
            existing = _find_deduplicated(conn, new)
            if existing is None:
                raise
            return row_to_job(existing, deduplicated=True)
    return _insert(conn, d, new)


def _insert(conn: Connection, d: SqlDialect, new: NewJob) -> Job:
    if new.submit_rate is not None:
        take_submit_slots(conn, d, new.owner, new.submit_rate)
    if new.max_queued is not None:
        check_queued(conn, d, new.owner, new.max_queued)
    if new.cost > 0:
        reserve(conn, d, new.owner, new.cost, new.kind)
    params = _params(new)
    delays = {"slow_after_s": new.slow_after_s, "expire_after_s": new.expire_after_s}
    times = conn.execute(_insert_statement(d), {**params, **delays}).mappings().one()
    append_events(conn, d, [_first_event(new)], [new.id] if new.webhook is not None else [])
    return row_to_job({**_NEW_ROW, **params, **times})  # type: ignore[arg-type]


def coalescible(new: NewJob) -> bool:
    """Whether this submit may share one multi-row insert with others (`insert_plain_jobs`):
    it needs nothing looked up or checked per job in the transaction first (the submission
    rate is checked per owner, for the batch's submits together). Submits that do (a dedupe
    or idempotency key, a cost to reserve, the queued limit) go through `insert_job`, one at
    a time."""
    plain = new.dedupe_key is None and new.idempotency_key is None
    return plain and new.cost == 0 and new.max_queued is None


class JobRowsDialect(SqlDialect, Protocol):
    """What `insert_plain_jobs` needs beyond `SqlDialect` (SQLite's group commit has it)."""

    def clock(self, conn: Connection) -> float:
        """The database's clock now, read once: the rows of one batch share it."""

    def insert_jobs(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        """Insert job rows, every column given (the same keys in each row), in one call."""


def insert_plain_jobs(conn: Connection, d: JobRowsDialect, batch: list[tuple[NewJob]]) -> list[Job]:
    """`insert_job` for many `coalescible` submits at once (one per ``(new,)``): the rows and
    their first events in one insert each, with the database's time read once; the jobs are
    built as `_insert` builds them, so each equals a fresh read of its row. Each owner's
    submits are counted against the rate together: over it, all of them are refused here
    (`RateLimited`) and group commit runs each one alone, so exactly those over it fail."""
    limited = Counter((new.owner, new.submit_rate) for (new,) in batch if new.submit_rate)
    for (owner, rate), submits in limited.items():
        take_submit_slots(conn, d, owner, rate, submits)
    now = d.clock(conn)
    rows = [
        {**_params(new), **_QUEUED, "created_at": now, "updated_at": now, "run_at": now,
         "slow_at": now + new.slow_after_s, "expire_at": now + new.expire_after_s}
        for (new,) in batch
    ]  # fmt: skip
    d.insert_jobs(conn, rows)
    hooked = [new.id for (new,) in batch if new.webhook is not None]
    append_events(conn, d, [_first_event(new) for (new,) in batch], hooked)
    return [row_to_job({**_NEW_ROW, **row}) for row in rows]  # type: ignore[arg-type]


def _params(new: NewJob) -> dict[str, Any]:
    """The columns `_INSERTED` of the new row."""
    webhook = None if new.webhook is None else new.webhook.model_dump(mode="json")
    return {
        "id": new.id, "kind": new.kind, "owner": new.owner, "scope": new.scope,
        "input": new.input, "max_attempts": new.max_attempts, "dedupe_key": new.dedupe_key,
        "priority": new.priority, "cost": new.cost, "webhook": webhook,
        "credit": RESERVED if new.cost > 0 else None, "refundable": new.refundable,
    }  # fmt: skip


def check_queued(conn: Connection, d: SqlDialect, owner: str, most: int) -> None:
    """`LimitExceeded` when ``owner`` already has ``most`` jobs queued. Counts at most that
    many (through the owner's active jobs); the dialect makes concurrent submits of one
    owner take turns, so two cannot both take the last place."""
    d.lock_owner(conn, owner)
    queued = (
        sa.select(jobs.c.id)
        .where(jobs.c.owner == owner, jobs.c.status == JobStatus.QUEUED.value)
        .limit(most)
        .subquery()
    )
    count = conn.execute(sa.select(sa.func.count()).select_from(queued)).scalar_one()
    if count >= most:
        raise LimitExceeded(
            f"owner: {owner!r} already has {count} queued jobs, the most allowed "
            "(BACKBURNER_OWNER_MAX_QUEUED); wait for some to start"
        )


def _first_event(new: NewJob) -> tuple[str, int, str, dict[str, Any]]:
    return (new.id, 1, "status", {"status": "queued", "reason": "submitted"})


#: The columns a new row sets to constants.
_QUEUED: dict[str, Any] = {"status": JobStatus.QUEUED.value, "partial": {}, "event_seq": 1}
#: A new row's columns that the insert leaves to their defaults (or sets to constants): the
#: job is built from these, the parameters and the database's times, not read back whole
#: (reading every column back cost more than the insert). `tests/storage` checks the job
#: equals a fresh read of the row.
_NEW_ROW: dict[str, Any] = {
    **_QUEUED, "attempt": 0, "lease_expiries": 0, "cancel_requested": False, "charge_seq": 0,
    **dict.fromkeys(("output", "error_type", "error_message", "progress", "message")),
    **dict.fromkeys(("worker_id", "lease_token", "lease_expires_at", "started_at", "finished_at")),
}  # fmt: skip


@functools.cache
def _insert_statement(d: SqlDialect) -> sa.Insert:
    """insert_job: a queued row, times from the database clock; built once per dialect."""
    now = d.now()
    bound = {c: sa.bindparam(c, type_=jobs.c[c].type) for c in _INSERTED}
    return (
        sa.insert(jobs)
        .values(
            **bound,
            **_QUEUED,
            created_at=now,
            updated_at=now,
            run_at=now,
            slow_at=now + sa.bindparam("slow_after_s", type_=sa.Float),
            expire_at=now + sa.bindparam("expire_after_s", type_=sa.Float),
        )
        .returning(
            jobs.c.created_at, jobs.c.updated_at, jobs.c.run_at, jobs.c.slow_at, jobs.c.expire_at
        )
    )


#: The columns the insert takes from the `NewJob` (`_params`).
_INSERTED = tuple(
    "id kind owner scope input max_attempts dedupe_key priority cost webhook credit refundable"
    .split()
)  # fmt: skip


def _find_deduplicated(conn: Connection, new: NewJob) -> RowMapping | None:
    """The active job with this key, else (when reusing) the newest succeeded one."""
    statuses = [*_ACTIVE, JobStatus.SUCCEEDED.value] if new.reuse_succeeded else _ACTIVE
    rows = (
        conn.execute(
            sa.select(jobs)
            .where(
                jobs.c.owner == new.owner,
                jobs.c.dedupe_key == new.dedupe_key,
                jobs.c.status.in_(statuses),
            )
            .order_by(jobs.c.id.desc())
        )
        .mappings()
        .all()
    )
    active = [r for r in rows if r["status"] in _ACTIVE]
    if active:
        return active[0]
    return rows[0] if rows else None
