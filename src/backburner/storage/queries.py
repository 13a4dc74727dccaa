"""Internal: the Python API's SQL — read, list, cancel, retry, delete — as named units (the
submit's is in `insert_sql`).

Each unit takes a connection already inside its transaction (for writes, one that holds the
write lock on SQLite or row locks on PostgreSQL) and the dialect, and runs portable Core SQL.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, RowMapping
from sqlalchemy.exc import IntegrityError

from ..errors import InvalidTransition, JobNotFound
from ..jobs import ACTIVE_STATUSES, Event, Job, JobStatus
from ..states import check_transition
from .credits_sql import RESERVED, ended_credit, reserve, settle_ended
from .dialect import SqlDialect
from .events_sql import update_job_logged, update_jobs_logged
from .insert_sql import check_queued
from .records import JobPage, JobQuery, row_to_event, row_to_job
from .tables import events, jobs

__all__ = [
    "cancel_job",
    "delete_job",
    "event_feed",
    "get_job",
    "get_jobs",
    "list_events",
    "list_jobs",
    "list_scope_events",
    "retry_job",
    "scope_events_select",
]

_ACTIVE = [s.value for s in ACTIVE_STATUSES]


def get_job(conn: Connection, d: SqlDialect, job_id: str) -> Job | None:
    """One job by id."""
    row = conn.execute(_GET, {"job_id": job_id}).mappings().first()
    return None if row is None else row_to_job(row)


_GET = sa.select(jobs).where(jobs.c.id == sa.bindparam("job_id"))  # built once: the hot read


def get_jobs(conn: Connection, d: SqlDialect, job_ids: list[str]) -> list[Job]:
    """Many jobs by id in one query, in the order asked."""
    if not job_ids:
        return []
    rows = conn.execute(sa.select(jobs).where(jobs.c.id.in_(job_ids))).mappings().all()
    by_id = {r["id"]: row_to_job(r) for r in rows}
    return [by_id[i] for i in dict.fromkeys(job_ids) if i in by_id]


def list_jobs(conn: Connection, d: SqlDialect, query: JobQuery) -> JobPage:
    """A page of jobs matching ``query``, newest first (ids sort by creation time)."""
    conditions = [
        column == value
        for column, value in (
            (jobs.c.owner, query.owner),
            (jobs.c.scope, query.scope),
            (jobs.c.kind, query.kind),
            (jobs.c.dedupe_key, query.dedupe_key),
        )
        if value is not None
    ]
    if query.statuses is not None:
        conditions.append(jobs.c.status.in_([s.value for s in query.statuses]))
    if query.cursor is not None:
        conditions.append(jobs.c.id < query.cursor)
    stmt = sa.select(jobs).where(*conditions).order_by(jobs.c.id.desc()).limit(query.limit + 1)
    rows = conn.execute(stmt).mappings().all()
    page = [row_to_job(r) for r in rows[: query.limit]]
    more = len(rows) > query.limit
    return JobPage(page, page[-1].id if more and page else None)


def cancel_job(conn: Connection, d: SqlDialect, job_id: str) -> Job:
    """Cancel a queued job now; flag a running one for its worker to stop."""
    row = _locked_row(conn, job_id)
    status = JobStatus(row["status"])
    check_transition(status, JobStatus.CANCELED, "canceled", job_id)
    if status is JobStatus.QUEUED:
        values = {"status": JobStatus.CANCELED.value, "finished_at": d.now()}
        updated = update_jobs_logged(
            conn,
            d,
            [
                (
                    [jobs.c.id == job_id],
                    {**values, "credit": ended_credit(row)},
                    ("status", {"status": "canceled", "from": "queued", "reason": "canceled"}),
                )
            ],
            lambda _rows: settle_ended(conn, d, [row]),
        )[0]
    elif row["cancel_requested"]:
        return row_to_job(row)
    else:  # running: its worker stops it at its next heartbeat
        updated = update_job_logged(
            conn, d, [jobs.c.id == job_id], {"cancel_requested": True}, ("cancel_requested", {})
        )
    assert updated is not None  # the row is locked by this transaction
    return row_to_job(updated)


def retry_job(
    conn: Connection,
    d: SqlDialect,
    job_id: str,
    slow_after_s: float,
    expire_after_s: float,
    max_queued: int | None = None,
) -> Job:
    """Re-queue a failed or canceled job: the same row and input, attempts and errors reset.

    A job with a cost reserves it again (`InsufficientCredits` when the owner cannot cover
    it), to be charged again when it starts.
    """
    row = _locked_row(conn, job_id)
    status = JobStatus(row["status"])
    check_transition(status, JobStatus.QUEUED, "retried", job_id)
    if max_queued is not None:
        check_queued(conn, d, row["owner"], max_queued)
    credit = None
    if row["cost"] > 0:
        reserve(conn, d, row["owner"], row["cost"], row["kind"])
        credit = RESERVED
    now = d.now()
    values: dict[str, Any] = {
        "status": JobStatus.QUEUED.value,
        **dict.fromkeys(("output", "error_type", "error_message", "progress", "message")),
        **dict.fromkeys(("finished_at", "started_at", "worker_id", "lease_token")),
        "lease_expires_at": None,
        "partial": {},
        "attempt": 0,
        "lease_expiries": 0,
        "cancel_requested": False,
        "credit": credit,
        "run_at": now,
        "slow_at": now + slow_after_s,
        "expire_at": now + expire_after_s,
    }
    event = ("status", {"status": "queued", "from": status.value, "reason": "retried"})
    try:
        with conn.begin_nested():
            updated = update_job_logged(conn, d, [jobs.c.id == job_id], values, event)
    except IntegrityError:
        raise InvalidTransition(
            f"cannot retry job {job_id}: another active job has dedupe key {row['dedupe_key']!r}"
        ) from None
    assert updated is not None
    return row_to_job(updated)


def delete_job(conn: Connection, d: SqlDialect, job_id: str) -> bool:
    """Delete a job in any state, with its events and steps.

    A running job's worker finds its lease gone at its next write or heartbeat and stops.
    An active job gives back its reservation or (refundable) charge, as if canceled.
    """
    # events and steps go with it: their foreign keys cascade.
    stmt = sa.delete(jobs).where(jobs.c.id == job_id).returning(*_DELETED)
    row = conn.execute(stmt).mappings().first()
    if row is None:
        return False
    if row["status"] in _ACTIVE:
        settle_ended(conn, d, [row])
    return True


_DELETED = (
    jobs.c.id,
    jobs.c.status,
    jobs.c.owner,
    jobs.c.kind,
    jobs.c.cost,
    jobs.c.credit,
    jobs.c.charge_seq,
    jobs.c.refundable,
)


def list_events(conn: Connection, d: SqlDialect, job_id: str, after_seq: int) -> list[Event]:
    """A job's events after ``after_seq``, oldest first."""
    stmt = (
        sa.select(events)
        .where(events.c.job_id == job_id, events.c.seq > after_seq)
        .order_by(events.c.seq)
    )
    return [row_to_event(r) for r in conn.execute(stmt).mappings()]


def list_scope_events(
    conn: Connection, d: SqlDialect, owner: str, scope: str | None, after_id: int, limit: int
) -> list[tuple[int, Event]]:
    """Up to ``limit`` events of the owner's jobs in ``scope`` (``None``: all the owner's
    jobs) after ``events.id`` ``after_id``, oldest first, each with its ``events.id``.

    Event ids are handed out in commit order (SQLite's single writer; on PostgreSQL, the
    events lock of ``postgres_dialect``) and never reused (``AUTOINCREMENT``, a sequence),
    so "after the last id seen" misses nothing.

    A live tail (``after_id`` near the end) walks the primary key from ``after_id``; a full
    replay may start from the jobs via ``ix_jobs_owner_scope`` (owner-wide: ``ix_jobs_owner``)
    and ``uq_events_job_seq`` instead — the planner picks.
    """
    stmt = scope_events_select(owner, scope, after_id, limit)
    return [(r["id"], row_to_event(r)) for r in conn.execute(stmt).mappings()]


def scope_events_select(owner: str, scope: str | None, after_id: int, limit: int) -> sa.Select[Any]:
    """`list_scope_events`'s statement (its query plan is tested)."""
    where = [jobs.c.owner == owner, events.c.id > after_id]
    if scope is not None:
        where.append(jobs.c.scope == scope)
    return (
        sa.select(events)
        .join(jobs, jobs.c.id == events.c.job_id)
        .where(*where)
        .order_by(events.c.id)
        .limit(limit)
    )


def event_feed(
    conn: Connection, d: SqlDialect, after_id: int | None, limit: int
) -> tuple[int, list[tuple[int, str, str | None, Event]]]:
    """Every job's events after ``events.id`` ``after_id`` (at most ``limit``, in id order) as
    ``(id, owner, scope, event)``, and the id to pass next time; with ``after_id=None``, no
    events and the newest id: where a live tail starts.

    "After the last id seen" misses nothing: ids are handed out in commit order (see
    `list_scope_events`).
    """
    if after_id is None:
        newest = sa.select(sa.func.coalesce(sa.func.max(events.c.id), 0))
        return int(conn.execute(newest).scalar_one()), []
    stmt = (
        sa.select(events, jobs.c.owner, jobs.c.scope)
        .join(jobs, jobs.c.id == events.c.job_id)
        .where(events.c.id > after_id)
        .order_by(events.c.id)
        .limit(limit)
    )
    rows = conn.execute(stmt).mappings().all()
    feed = [(r["id"], r["owner"], r["scope"], row_to_event(r)) for r in rows]
    return (feed[-1][0] if feed else after_id), feed


def _locked_row(conn: Connection, job_id: str) -> RowMapping:
    """The job's row, read inside the write transaction (``FOR UPDATE`` where it means one)."""
    row = (
        conn.execute(sa.select(jobs).where(jobs.c.id == job_id).with_for_update())
        .mappings()
        .first()
    )
    if row is None:
        raise JobNotFound(f"no job with id {job_id!r}")
    return row
