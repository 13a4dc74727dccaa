"""Internal: the worker's SQL — claims, heartbeats, fenced writes, outcomes, maintenance.

Every write for a running job is *fenced*: its ``WHERE`` names the job's lease token and
``status = 'running'``, so a worker whose lease was taken over changes nothing.
"""

from __future__ import annotations

import functools
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, RowMapping

from ..errors import LeaseLost
from ..jobs import TERMINAL_STATUSES, JobStatus
from ..states import after_lease_expiry
from .dialect import SqlDialect
from .events_sql import Change, append_events, update_job_logged, update_jobs_logged
from .records import (
    Claim,
    ClaimRequest,
    Lease,
    LeaseReport,
    MaintenanceReport,
    Outcome,
    row_to_job,
)
from .tables import jobs, steps

__all__ = [
    "claim_jobs",
    "expire_overdue_jobs",
    "extend_leases",
    "find_cancel_requests",
    "finish_jobs",
    "load_steps",
    "prune_finished_jobs",
    "reclaim_expired_leases",
    "save_step",
    "set_partial",
    "update_progress",
]

_CHUNK = 500  # ids per IN (…): well under every driver's parameter limit
_RUNNING = JobStatus.RUNNING.value
_CLEAR_LEASE = {"worker_id": None, "lease_token": None, "lease_expires_at": None}


def claim_jobs(
    conn: Connection,
    d: SqlDialect,
    worker_id: str,
    token: str,
    requests: list[ClaimRequest],
    lease_s: float,
    limit: int,
) -> list[Claim]:
    """Claim jobs under one new lease token, logging a ``running`` event for each.

    Requests are served in order, each up to its own limit and to what is left of ``limit``.
    """
    rows: list[Any] = []
    for request in requests:
        room = min(request.limit, limit - len(rows))
        if room > 0:
            rows.extend(d.claim(conn, worker_id, token, ClaimRequest(request.kinds, room), lease_s))
    append_events(
        conn,
        d,
        [
            (
                r["id"],
                r["event_seq"],
                "status",
                {
                    "status": _RUNNING,
                    "from": "queued",
                    "attempt": r["attempt"],
                    "worker": worker_id,
                },
            )
            for r in rows
        ],
        [r["id"] for r in rows if r["webhook"] is not None],
    )
    return [Claim(row_to_job(r), Lease(r["id"], token), r["lease_expiries"]) for r in rows]


def extend_leases(
    conn: Connection, d: SqlDialect, leases: list[Lease], lease_s: float
) -> LeaseReport:
    """Heartbeat: renew every lease still held; report the rest as lost, and pending cancels."""
    held: dict[str, bool] = {}
    for start in range(0, len(leases), _CHUNK):
        chunk = leases[start : start + _CHUNK]
        stmt = (
            sa.update(jobs)
            .where(
                jobs.c.id.in_([lease.job_id for lease in chunk]),
                jobs.c.lease_token.in_({lease.token for lease in chunk}),
                jobs.c.status == _RUNNING,
            )
            .values(lease_expires_at=d.now() + lease_s)
            .returning(jobs.c.id, jobs.c.cancel_requested)
        )
        held.update((row.id, bool(row.cancel_requested)) for row in conn.execute(stmt))
    return LeaseReport(
        lost=frozenset(lease.job_id for lease in leases if lease.job_id not in held),
        cancel_requested=frozenset(job_id for job_id, cancel in held.items() if cancel),
    )


def find_cancel_requests(conn: Connection, d: SqlDialect, job_ids: list[str]) -> set[str]:
    """Which of these jobs a user asked to cancel (a read: cheap to do often)."""
    found: set[str] = set()
    for start in range(0, len(job_ids), _CHUNK):
        chunk = job_ids[start : start + _CHUNK]
        stmt = sa.select(jobs.c.id).where(jobs.c.id.in_(chunk), jobs.c.cancel_requested)
        found.update(conn.execute(stmt).scalars())
    return found


def _fence(lease: Lease) -> list[sa.ColumnElement[bool]]:
    """The ``WHERE`` that makes a write apply only while the lease is still held."""
    return [jobs.c.id == lease.job_id, jobs.c.lease_token == lease.token, jobs.c.status == _RUNNING]


def update_progress(
    conn: Connection, d: SqlDialect, lease: Lease, progress: float | None, message: str | None
) -> None:
    """Record progress and message (fenced)."""
    values = {"progress": progress, "message": message}
    if update_job_logged(conn, d, _fence(lease), values, ("progress", values)) is None:
        raise LeaseLost()


def set_partial(conn: Connection, d: SqlDialect, lease: Lease, key: str, value: Any) -> None:
    """Merge one partial result into the job's ``partial`` (fenced)."""
    current = conn.execute(sa.select(jobs.c.partial).where(*_fence(lease))).scalar_one_or_none()
    if current is None:
        raise LeaseLost()
    merged = {**current, key: value}
    event = ("partial", {"key": key, "value": value})
    if update_job_logged(conn, d, _fence(lease), {"partial": merged}, event) is None:
        raise LeaseLost()


def load_steps(conn: Connection, d: SqlDialect, job_id: str) -> dict[str, Any]:
    """Stored step results by name."""
    stmt = sa.select(steps.c.name, steps.c.output).where(steps.c.job_id == job_id)
    return {row.name: row.output for row in conn.execute(stmt)}


def save_step(conn: Connection, d: SqlDialect, lease: Lease, name: str, output: Any) -> None:
    """Store a step's result while the lease is held; a result already stored wins."""
    if conn.execute(sa.select(jobs.c.id).where(*_fence(lease))).first() is None:
        raise LeaseLost()
    exists = sa.select(steps.c.name).where(steps.c.job_id == lease.job_id, steps.c.name == name)
    if conn.execute(exists).first() is None:
        conn.execute(
            sa.insert(steps).values(
                job_id=lease.job_id, name=name, output=output, created_at=d.now()
            )
        )


def finish_jobs(conn: Connection, d: SqlDialect, outcomes: list[Outcome]) -> list[bool]:
    """Apply outcomes as a batch (fenced); ``False`` where the job was no longer ours.

    One locking read finds which leases still hold; the updates then run as one
    ``executemany`` per outcome shape and the events as one insert, so a batch of a hundred
    finished jobs costs a handful of statements, not two hundred.
    """
    held, hooked = _held_leases(conn, [o.lease for o in outcomes])
    shapes: dict[tuple[JobStatus, bool, bool], list[dict[str, Any]]] = {}
    logged: list[tuple[str, int, str, dict[str, Any]]] = []
    for outcome in outcomes:
        seq = held.get(outcome.lease.job_id)
        if seq is not None:
            params, data = _outcome_params(outcome)
            shape = (outcome.status, outcome.error is not None, outcome.release)
            shapes.setdefault(shape, []).append(params)
            logged.append((outcome.lease.job_id, seq + 1, "status", data))
    for shape, rows in shapes.items():
        d.execute_many(conn, _finish_statement(d, *shape), rows)
    append_events(conn, d, logged, hooked)
    return [o.lease.job_id in held for o in outcomes]


def _held_leases(conn: Connection, leases: list[Lease]) -> tuple[dict[str, int], set[str]]:
    """``{job_id: event_seq}`` for the leases that still hold, rows locked until commit, and
    which of those jobs have a webhook."""
    tokens = {lease.job_id: lease.token for lease in leases}
    held: dict[str, int] = {}
    hooked: set[str] = set()
    ids = list(tokens)
    for start in range(0, len(ids), _CHUNK):
        for r in conn.execute(_HELD, {"ids": ids[start : start + _CHUNK]}):
            if r.lease_token == tokens[r.id]:
                held[r.id] = r.event_seq
                if r.hooked:
                    hooked.add(r.id)
    return held, hooked


_HELD = (
    sa.select(
        jobs.c.id, jobs.c.lease_token, jobs.c.event_seq, jobs.c.webhook.is_not(None).label("hooked")
    )
    .where(jobs.c.id.in_(sa.bindparam("ids", expanding=True)), jobs.c.status == _RUNNING)
    .with_for_update()
)


def _outcome_params(o: Outcome) -> tuple[dict[str, Any], dict[str, Any]]:
    """The bound values for `_finish_statement`, and the event's data."""
    params: dict[str, Any] = {"job_id": o.lease.job_id, "token": o.lease.token}
    data: dict[str, Any] = {"status": o.status.value, "from": _RUNNING}
    if o.error is not None:
        params |= {"error_type": o.error.type.value, "error_message": o.error.message}
        data["error"] = o.error.model_dump(mode="json")
    if o.status is JobStatus.SUCCEEDED:
        params["output"] = o.output
    elif o.status is JobStatus.QUEUED and o.release:
        data["reason"] = "released"
    elif o.status is JobStatus.QUEUED:
        params["delay_s"] = o.delay_s
        data |= {"reason": "retrying", "delay_s": round(o.delay_s, 3)}
    return params, data


@functools.cache
def _finish_statement(d: SqlDialect, status: JobStatus, error: bool, release: bool) -> sa.Update:
    """The fenced update for one outcome shape, built once per dialect."""
    values: dict[str, Any] = {"status": status.value, **_CLEAR_LEASE}
    if error:
        values |= {
            "error_type": sa.bindparam("error_type", type_=sa.String),
            "error_message": sa.bindparam("error_message", type_=sa.Text),
        }
    if status in TERMINAL_STATUSES:
        values["finished_at"] = d.now()
    if status is JobStatus.SUCCEEDED:
        output = sa.bindparam("output", type_=jobs.c.output.type)
        values |= {"output": output, "progress": 1.0, "error_type": None, "error_message": None}
    elif status is JobStatus.QUEUED and release:
        values |= {"attempt": jobs.c.attempt - 1, "run_at": d.now()}
    elif status is JobStatus.QUEUED:
        values["run_at"] = d.now() + sa.bindparam("delay_s", type_=sa.Float)
    # Fenced by id and token alone: every way out of `running` clears the token, so a held
    # token means a running job. (With `status = 'running'` too, PostgreSQL's planner may
    # join a batch through the partial index of *all* running jobs rather than by id.)
    return (
        sa.update(jobs)
        .where(
            jobs.c.id == sa.bindparam("job_id", type_=sa.String),
            jobs.c.lease_token == sa.bindparam("token", type_=sa.String),
        )
        .values(**values, event_seq=jobs.c.event_seq + 1, updated_at=d.now())
    )


def reclaim_expired_leases(conn: Connection, d: SqlDialect, limit: int) -> MaintenanceReport:
    """Jobs whose worker stopped renewing its lease: back to the queue, or failed/canceled."""
    now = d.now()
    stmt = (
        sa.select(
            jobs.c.id,
            jobs.c.lease_token,
            jobs.c.lease_expiries,
            jobs.c.cancel_requested,
            (jobs.c.expire_at <= now).label("past_expiry"),
        )
        .where(jobs.c.status == _RUNNING, jobs.c.lease_expires_at < now)
        .limit(limit)
    )
    rows = conn.execute(stmt).mappings().all()
    updated = update_jobs_logged(conn, d, [_reclaim(d, row) for row in rows])
    return MaintenanceReport(reclaimed=sum(row is not None for row in updated))


def _reclaim(d: SqlDialect, row: RowMapping) -> Change:
    """The fenced update that ends an expired lease's attempt: its job's fate and event."""
    expiries = row["lease_expiries"] + 1
    fate = after_lease_expiry(
        lease_expiries=expiries,
        cancel_requested=bool(row["cancel_requested"]),
        past_expiry=bool(row["past_expiry"]),
    )
    values: dict[str, Any] = {
        "status": fate.status.value,
        "lease_expiries": expiries,
        **_CLEAR_LEASE,
    }
    data: dict[str, Any] = {
        "status": fate.status.value,
        "from": _RUNNING,
        "reason": "lease_expired",
    }
    if fate.status is JobStatus.QUEUED:
        values["run_at"] = d.now()
    else:
        values["finished_at"] = d.now()
    if fate.error_type is not None:
        values |= {"error_type": fate.error_type.value, "error_message": fate.message}
        data["error"] = {"type": fate.error_type.value, "message": fate.message}
    return _fence(Lease(row["id"], row["lease_token"])), values, ("status", data)


def expire_overdue_jobs(conn: Connection, d: SqlDialect, limit: int) -> int:
    """Queued jobs past their ``expire_at`` fail with error type ``expired``."""
    now = d.now()
    ids = conn.execute(
        sa.select(jobs.c.id)
        .where(jobs.c.status == JobStatus.QUEUED.value, jobs.c.expire_at <= now)
        .limit(limit)
    ).scalars()
    message = "the job did not finish before it expired"
    values = {
        "status": JobStatus.FAILED.value,
        "error_type": "expired",
        "error_message": message,
        "finished_at": now,
    }
    data = {"status": "failed", "from": "queued", "error": {"type": "expired", "message": message}}
    queued = JobStatus.QUEUED.value
    changes: list[Change] = [
        ([jobs.c.id == job_id, jobs.c.status == queued], values, ("status", data)) for job_id in ids
    ]
    return sum(row is not None for row in update_jobs_logged(conn, d, changes))


def prune_finished_jobs(conn: Connection, d: SqlDialect, retention_s: float, limit: int) -> int:
    """Delete finished jobs older than ``retention_s`` (their events and steps cascade)."""
    ids = (
        sa.select(jobs.c.id)
        .where(
            jobs.c.finished_at < d.now() - retention_s,
            jobs.c.status.in_([s.value for s in TERMINAL_STATUSES]),
        )
        .limit(limit)
        .scalar_subquery()
    )
    return conn.execute(sa.delete(jobs).where(jobs.c.id.in_(ids))).rowcount
