"""Internal: the shared unit every job change goes through — update the row, log an event."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, RowMapping

from .dialect import SqlDialect
from .tables import jobs
from .webhooks_sql import enqueue_deliveries

__all__ = ["Change", "append_events", "update_job_logged", "update_jobs_logged"]

#: One logged update: the row's conditions, the new values, the event ``(type, data)``.
Change = tuple[list[sa.ColumnElement[bool]], Mapping[str, Any], tuple[str, dict[str, Any]]]


def append_events(
    conn: Connection,
    d: SqlDialect,
    rows: list[tuple[str, int, str, dict[str, Any]]],
    hooked: Collection[str] | None = None,
) -> None:
    """Insert ``(job_id, seq, type, data)`` events in one round trip (the dialect's own), and
    the webhook deliveries they call for, in the same transaction.

    ``hooked``: which of these jobs have a webhook, when the caller knows (it read the rows);
    then jobs without one cost no query at all.
    """
    if rows:
        d.insert_events(conn, rows)
        enqueue_deliveries(conn, d, rows, hooked)


def update_job_logged(
    conn: Connection,
    d: SqlDialect,
    where: list[sa.ColumnElement[bool]],
    values: Mapping[str, Any],
    event: tuple[str, dict[str, Any]],
) -> RowMapping | None:
    """Update the one job matching ``where`` and append ``event`` with the next ``seq``.

    Returns the updated row, or ``None`` when nothing matched (a fenced write that lost).
    """
    return update_jobs_logged(conn, d, [(where, values, event)])[0]


def update_jobs_logged(
    conn: Connection,
    d: SqlDialect,
    changes: Sequence[Change],
    before_events: Callable[[list[RowMapping | None]], None] | None = None,
) -> list[RowMapping | None]:
    """`update_job_logged` for several jobs: every update first, then all their events in
    one insert — the last statement, as a dialect may require (see ``postgres_dialect``).

    ``before_events`` is given the updated rows (``None`` where nothing matched) between the
    two: the place for writes that go with the changes (the credits ledger).
    """
    now = d.now()
    rows: list[RowMapping | None] = []
    for where, values, _ in changes:
        stmt = (
            sa.update(jobs)
            .where(*where)
            .values(**values, event_seq=jobs.c.event_seq + 1, updated_at=now)
            .returning(*jobs.c)
        )
        rows.append(conn.execute(stmt).mappings().first())
    if before_events is not None:
        before_events(rows)
    done = [
        (row, event) for row, (_, _, event) in zip(rows, changes, strict=True) if row is not None
    ]
    append_events(
        conn,
        d,
        [(row["id"], row["event_seq"], event[0], event[1]) for row, event in done],
        [row["id"] for row, _ in done if row["webhook"] is not None],
    )
    return rows
