"""Internal: the webhook outbox — deliveries written with the job change, then claimed and sent.

A delivery is written in the same transaction as the status change it reports, so a crash
between the two cannot lose it. Senders claim due deliveries by pushing ``next_attempt_at``
past their timeout: a sender that dies mid-POST leaves it due again (at-least-once).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from ..ids import new_job_id
from .dialect import SqlDialect
from .records import WebhookDelivery, row_to_delivery, row_to_job
from .tables import jobs, webhook_deliveries

__all__ = [
    "DeliveryResult",
    "claim_deliveries",
    "enqueue_deliveries",
    "list_deliveries",
    "record_delivery",
    "seconds_until_due",
]

_wd = webhook_deliveries


@dataclass(frozen=True)
class DeliveryResult:
    """How one attempt went: delivered, to be retried after ``retry_in_s``, or given up."""

    delivered: bool
    status_code: int | None = None
    error: str | None = None
    #: ``None`` with ``delivered`` false: no more attempts.
    retry_in_s: float | None = None


def enqueue_deliveries(
    conn: Connection,
    d: SqlDialect,
    rows: Sequence[tuple[str, int, str, dict[str, Any]]],
    hooked: Collection[str] | None = None,
) -> None:
    """Queue a delivery for each status event whose job has a webhook that wants it;
    ``hooked`` (when known) names the jobs that have one, sparing the look-up for the rest."""
    changes = [
        (job_id, data.get("status"))
        for job_id, _, kind, data in rows
        if kind == "status" and (hooked is None or job_id in hooked)
    ]
    if not changes:
        return
    stmt = sa.select(jobs).where(
        jobs.c.id.in_(list({job_id for job_id, _ in changes})), jobs.c.webhook.is_not(None)
    )
    found = {row["id"]: row for row in conn.execute(stmt).mappings()}
    values = []
    for job_id, status in changes:
        row = found.get(job_id)
        if row is None or status not in row["webhook"]["events"]:
            continue
        job = row_to_job(row)
        payload = {
            "type": f"job.{status}",
            "timestamp": job.updated_at.isoformat(),
            "data": job.model_dump(mode="json"),
        }
        values.append(
            {
                "id": "msg_" + new_job_id().replace("-", ""),
                "job_id": job_id,
                "owner": row["owner"],
                "url": row["webhook"]["url"],
                "type": payload["type"],
                "payload": json.dumps(payload, separators=(",", ":")),
                "status": "pending",
            }
        )
    if values:
        now = d.now()
        conn.execute(sa.insert(_wd).values(next_attempt_at=now, created_at=now), values)


def seconds_until_due(conn: Connection, d: SqlDialect) -> float | None:
    """How long until the next pending delivery is due (≤ 0: now); ``None`` when none is."""
    stmt = sa.select(sa.func.min(_wd.c.next_attempt_at) - d.now()).where(_wd.c.status == "pending")
    value = conn.execute(stmt).scalar()
    return None if value is None else float(value)


def claim_deliveries(
    conn: Connection, d: SqlDialect, limit: int, lease_s: float
) -> list[WebhookDelivery]:
    """Take up to ``limit`` due deliveries for ``lease_s``, counting the attempt now."""
    now = d.now()
    due = (_wd.c.status == "pending") & (_wd.c.next_attempt_at <= now)
    ids = sa.select(_wd.c.id).where(due).order_by(_wd.c.next_attempt_at).limit(limit)
    # `due` again on the row itself: two senders racing for one row, only one updates it.
    stmt = (
        sa.update(_wd)
        .where(_wd.c.id.in_(ids.scalar_subquery()), due)
        .values(next_attempt_at=now + lease_s, attempts=_wd.c.attempts + 1)
        .returning(*_wd.c)
    )
    return [row_to_delivery(row) for row in conn.execute(stmt).mappings()]


def record_delivery(
    conn: Connection, d: SqlDialect, delivery: WebhookDelivery, result: DeliveryResult
) -> bool:
    """Store an attempt's result; ``False`` when another sender has claimed it since."""
    now = d.now()
    values: dict[str, Any] = {
        "last_status_code": result.status_code,
        "last_error": None if result.error is None else result.error[:1000],
    }
    if result.delivered or result.retry_in_s is None:
        values.update(status="delivered" if result.delivered else "failed", finished_at=now)
    else:
        values.update(next_attempt_at=now + result.retry_in_s)
    stmt = (
        sa.update(_wd)
        .where(
            _wd.c.id == delivery.id,
            _wd.c.status == "pending",
            _wd.c.attempts == delivery.attempts,
        )
        .values(**values)
    )
    return conn.execute(stmt).rowcount == 1


def list_deliveries(conn: Connection, d: SqlDialect, job_id: str) -> list[WebhookDelivery]:
    """A job's deliveries, oldest first."""
    stmt = sa.select(_wd).where(_wd.c.job_id == job_id).order_by(_wd.c.created_at, _wd.c.id)
    return [row_to_delivery(row) for row in conn.execute(stmt).mappings()]
