"""Internal: the worker's SQL — claims, heartbeats, fenced writes, outcomes.

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
from .claim_sql import claim_rows
from .credits_sql import charge_started, ended_credit, settle_ended
from .dialect import SqlDialect
from .events_sql import append_events, update_job_logged
from .fair_share import ClaimLimits
from .records import (
    Claim,
    ClaimRequest,
    Lease,
    LeaseReport,
    Outcome,
    row_to_job,
)
from .tables import jobs, steps

__all__ = [
    "CLEAR_LEASE",
    "RUNNING",
    "SETTLE_COLUMNS",
    "UNSUCCESSFUL",
    "UNSUCCESSFUL_VALUES",
    "claim_jobs",
    "extend_leases",
    "fence",
    "find_cancel_requests",
    "finish_jobs",
    "load_steps",
    "save_step",
    "set_partial",
    "update_progress",
]

_CHUNK = 500  # ids per IN (…): well under every driver's parameter limit
RUNNING = JobStatus.RUNNING.value
CLEAR_LEASE = {"worker_id": None, "lease_token": None, "lease_expires_at": None}
#: Where a job ends without success: its reservation or charge is given back.
UNSUCCESSFUL = frozenset({JobStatus.FAILED, JobStatus.CANCELED})
UNSUCCESSFUL_VALUES = frozenset(s.value for s in UNSUCCESSFUL)


def claim_jobs(
    conn: Connection,
    d: SqlDialect,
    worker_id: str,
    token: str,
    requests: list[ClaimRequest],
    lease_s: float,
    limit: int,
    limits: ClaimLimits,
    after: str,
) -> tuple[list[Claim], str]:
    """Claim up to ``limit`` jobs under one new lease token, fairly across owners and within
    ``limits`` and each request's own (`claim_sql`); charge those whose cost is reserved;
    log a ``running`` event for each. Returns the claims and the owner the next claim goes
    round from (pass it as ``after``)."""
    rows, after = claim_rows(conn, d, (worker_id, token, lease_s), requests, limit, limits, after)
    charge_started(conn, d, rows)
    append_events(
        conn,
        d,
        [
            (
                r["id"],
                r["event_seq"],
                "status",
                {
                    "status": RUNNING,
                    "from": "queued",
                    "attempt": r["attempt"],
                    "worker": worker_id,
                },
            )
            for r in rows
        ],
        [r["id"] for r in rows if r["webhook"] is not None],
    )
    claims = [Claim(row_to_job(r), Lease(r["id"], token), r["lease_expiries"]) for r in rows]
    return claims, after


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
                jobs.c.status == RUNNING,
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


def fence(lease: Lease) -> list[sa.ColumnElement[bool]]:
    """The ``WHERE`` that makes a write apply only while the lease is still held."""
    return [jobs.c.id == lease.job_id, jobs.c.lease_token == lease.token, jobs.c.status == RUNNING]


def update_progress(
    conn: Connection, d: SqlDialect, lease: Lease, progress: float | None, message: str | None
) -> None:
    """Record progress and message (fenced)."""
    values = {"progress": progress, "message": message}
    if update_job_logged(conn, d, fence(lease), values, ("progress", values)) is None:
        raise LeaseLost()


def set_partial(conn: Connection, d: SqlDialect, lease: Lease, key: str, value: Any) -> None:
    """Merge one partial result into the job's ``partial`` (fenced)."""
    current = conn.execute(sa.select(jobs.c.partial).where(*fence(lease))).scalar_one_or_none()
    if current is None:
        raise LeaseLost()
    merged = {**current, key: value}
    event = ("partial", {"key": key, "value": value})
    if update_job_logged(conn, d, fence(lease), {"partial": merged}, event) is None:
        raise LeaseLost()


def load_steps(conn: Connection, d: SqlDialect, job_id: str) -> dict[str, Any]:
    """Stored step results by name."""
    stmt = sa.select(steps.c.name, steps.c.output).where(steps.c.job_id == job_id)
    return {row.name: row.output for row in conn.execute(stmt)}


def save_step(conn: Connection, d: SqlDialect, lease: Lease, name: str, output: Any) -> None:
    """Store a step's result while the lease is held; a result already stored wins."""
    if conn.execute(sa.select(jobs.c.id).where(*fence(lease))).first() is None:
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
    finished jobs costs a handful of statements, not two hundred. Jobs that end without
    success give back their reservation or charge (`credits_sql`) in the same transaction.
    """
    held = _held_leases(conn, [o.lease for o in outcomes])
    shapes: dict[tuple[JobStatus, bool, bool], list[dict[str, Any]]] = {}
    logged: list[tuple[str, int, str, dict[str, Any]]] = []
    ended: list[RowMapping] = []
    for outcome in outcomes:
        row = held.get(outcome.lease.job_id)
        if row is not None:
            params, data = _outcome_params(outcome)
            if outcome.status in UNSUCCESSFUL:
                params["credit"] = ended_credit(row)
                ended.append(row)
            shape = (outcome.status, outcome.error is not None, outcome.release)
            shapes.setdefault(shape, []).append(params)
            logged.append((outcome.lease.job_id, row["event_seq"] + 1, "status", data))
    for shape, rows in shapes.items():
        d.execute_many(conn, _finish_statement(d, *shape), rows)
    settle_ended(conn, d, ended)
    hooked = [job_id for job_id, row in held.items() if row["hooked"]]
    append_events(conn, d, logged, hooked)
    return [o.lease.job_id in held for o in outcomes]


def _held_leases(conn: Connection, leases: list[Lease]) -> dict[str, RowMapping]:
    """The rows of the jobs whose leases still hold, by id, locked until commit."""
    tokens = {lease.job_id: lease.token for lease in leases}
    held: dict[str, RowMapping] = {}
    ids = list(tokens)
    for start in range(0, len(ids), _CHUNK):
        for r in conn.execute(_HELD, {"ids": ids[start : start + _CHUNK]}).mappings():
            if r["lease_token"] == tokens[r["id"]]:
                held[r["id"]] = r
    return held


#: What `finish_jobs` needs of each job: the fence, the event number, and the credit columns.
SETTLE_COLUMNS = (jobs.c.owner, jobs.c.kind, jobs.c.cost, jobs.c.credit, jobs.c.charge_seq)
_HELD = (
    sa.select(
        jobs.c.id,
        jobs.c.lease_token,
        jobs.c.event_seq,
        jobs.c.webhook.is_not(None).label("hooked"),
        jobs.c.refundable,
        *SETTLE_COLUMNS,
    )
    .where(jobs.c.id.in_(sa.bindparam("ids", expanding=True)), jobs.c.status == RUNNING)
    .with_for_update()
)


def _outcome_params(o: Outcome) -> tuple[dict[str, Any], dict[str, Any]]:
    """The bound values for `_finish_statement`, and the event's data."""
    params: dict[str, Any] = {"job_id": o.lease.job_id, "token": o.lease.token}
    data: dict[str, Any] = {"status": o.status.value, "from": RUNNING}
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
    values: dict[str, Any] = {"status": status.value, **CLEAR_LEASE}
    if error:
        values |= {
            "error_type": sa.bindparam("error_type", type_=sa.String),
            "error_message": sa.bindparam("error_message", type_=sa.Text),
        }
    if status in TERMINAL_STATUSES:
        values["finished_at"] = d.now()
    if status in UNSUCCESSFUL:
        values["credit"] = sa.bindparam("credit", type_=sa.String)
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
