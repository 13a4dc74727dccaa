"""Internal: maintenance SQL — reclaim expired leases, expire overdue jobs, prune old ones.

Any worker runs these (`backburner.worker.maintenance`); each is one short transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, RowMapping

from ..jobs import TERMINAL_STATUSES, JobStatus
from ..states import after_lease_expiry
from .credits_sql import ended_credit, settle_ended
from .dialect import SqlDialect
from .events_sql import Change, update_jobs_logged
from .records import Lease, MaintenanceReport
from .tables import jobs
from .worker_queries import (
    CLEAR_LEASE,
    RUNNING,
    SETTLE_COLUMNS,
    UNSUCCESSFUL,
    UNSUCCESSFUL_VALUES,
    fence,
)

__all__ = ["expire_overdue_jobs", "prune_finished_jobs", "reclaim_expired_leases"]


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
            jobs.c.refundable,
            *SETTLE_COLUMNS,
        )
        .where(jobs.c.status == RUNNING, jobs.c.lease_expires_at < now)
        .limit(limit)
    )
    rows = conn.execute(stmt).mappings().all()
    changes = [_reclaim(d, row) for row in rows]
    updated = update_jobs_logged(conn, d, changes, _settling(conn, d, rows, changes))
    return MaintenanceReport(reclaimed=sum(row is not None for row in updated))


def _settling(
    conn: Connection, d: SqlDialect, before: Sequence[RowMapping], changes: list[Change]
) -> Callable[[list[RowMapping | None]], None]:
    """`update_jobs_logged`'s ``before_events`` for changes that may end jobs without
    success: settle the credits of those whose update applied (rows as they were before)."""

    def settle(after: list[RowMapping | None]) -> None:
        ended = [
            row
            for row, (_, values, _), new in zip(before, changes, after, strict=True)
            if new is not None and values.get("status") in UNSUCCESSFUL_VALUES
        ]
        settle_ended(conn, d, ended)

    return settle


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
        **CLEAR_LEASE,
    }
    data: dict[str, Any] = {
        "status": fate.status.value,
        "from": RUNNING,
        "reason": "lease_expired",
    }
    if fate.status is JobStatus.QUEUED:
        values["run_at"] = d.now()
    else:
        values["finished_at"] = d.now()
    if fate.status in UNSUCCESSFUL:
        values["credit"] = ended_credit(row)
    if fate.error_type is not None:
        values |= {"error_type": fate.error_type.value, "error_message": fate.message}
        data["error"] = {"type": fate.error_type.value, "message": fate.message}
    return fence(Lease(row["id"], row["lease_token"])), values, ("status", data)


def expire_overdue_jobs(conn: Connection, d: SqlDialect, limit: int) -> int:
    """Queued jobs past their ``expire_at`` fail with error type ``expired``, giving back
    their reservation (or their charge, when a retry was waiting)."""
    now = d.now()
    rows = (
        conn.execute(
            sa.select(jobs.c.id, jobs.c.refundable, *SETTLE_COLUMNS)
            .where(jobs.c.status == JobStatus.QUEUED.value, jobs.c.expire_at <= now)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        .mappings()
        .all()
    )
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
        (
            [jobs.c.id == row["id"], jobs.c.status == queued],
            {**values, "credit": ended_credit(row)},
            ("status", data),
        )
        for row in rows
    ]
    updated = update_jobs_logged(conn, d, changes, _settling(conn, d, rows, changes))
    return sum(row is not None for row in updated)


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
