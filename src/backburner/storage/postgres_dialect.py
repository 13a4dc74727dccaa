"""PostgreSQL's SQL for the shared units: the clock, the claim and the event insert.

Event ids are handed out in commit order. Readers tail the events table by id ("everything
after the last id I saw"), which misses an event only if a transaction with a lower id
commits after one with a higher id has been read. So every transaction that logs events
takes one transaction-level advisory lock (per schema) just before it draws their ids, and
holds it until it has committed: of two such transactions, the second draws its ids only
after the first is visible. Commits of event-logging transactions were serialised already —
``NOTIFY`` takes a server-wide lock from pre-commit to the end of the transaction — so
this adds only the insert's own round trip to that queue. Its rule: the events insert comes
last in a transaction, after every row lock it takes (a lock taken while holding the events
lock could wait on a transaction that waits for the events lock).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.dialects.postgresql import JSON
from sqlalchemy.sql import visitors
from sqlalchemy.sql.elements import BindParameter, ColumnElement

from .fair_share import Head

__all__ = ["CHANNEL_SQL", "NOTIFY_SQL", "PostgresDialect"]

#: The database's clock in epoch seconds. Wrapped in a sub-select by `PostgresDialect.now`,
#: so it is read once per statement and the planner can use it in index conditions
#: (``clock_timestamp()`` itself is volatile, evaluated row by row).
_NOW_SQL = "extract(epoch from clock_timestamp())::float8"
#: Where changes are announced: one channel per schema, so databases shared by several
#: backburner installations (or test runs) do not wake each other.
CHANNEL_SQL = "left('backburner.' || current_schema(), 63)"
NOTIFY_SQL = f"SELECT pg_notify({CHANNEL_SQL}, '')"
#: append_events in one statement whatever the number of rows: the rows travel as one JSON
#: array of ``[job_id, seq, type, data]`` (one parameter to encode, where arrays of strings
#: cost the driver a Python loop per element); the ids are drawn under the events lock (the
#: materialised CTE is scanned before any row can be inserted); and the NOTIFY wakes
#: listeners on every node when the transaction commits.
_INSERT_EVENTS = f"""
WITH locked AS MATERIALIZED (
    SELECT pg_advisory_xact_lock(hashtext('backburner.events.' || current_schema()))
), inserted AS (
    INSERT INTO events (job_id, seq, type, data, created_at)
    SELECT e->>0, (e->>1)::int, e->>2, (e->3)::jsonb, {_NOW_SQL}
    FROM locked, json_array_elements(%(rows)s::json) AS e
)
{NOTIFY_SQL}
"""


_LOCK_OWNER = (
    "SELECT pg_advisory_xact_lock(hashtext('backburner.owner.' || current_schema()),"
    " hashtext(%(owner)s))"
)
_LOCK_CLAIMS = "SELECT pg_advisory_xact_lock(hashtext('backburner.claims.' || current_schema()))"
_QUEUED_HEADS = f"""
SELECT j.id, j.owner, j.kind
FROM unnest(%(owners)s::text[]) WITH ORDINALITY AS o(owner, turn)
CROSS JOIN LATERAL (
    SELECT id, owner, kind, priority, run_at FROM jobs
    WHERE status = 'queued' AND owner = o.owner AND kind = ANY(%(kinds)s::text[])
      AND run_at <= (SELECT {_NOW_SQL})
    ORDER BY priority DESC, run_at, id
    LIMIT %(per_owner)s
    FOR UPDATE SKIP LOCKED
) AS j
ORDER BY o.turn, j.priority DESC, j.run_at, j.id
"""


@dataclass(frozen=True)
class PostgresDialect:
    """PostgreSQL's SQL for the shared units. Stateless: every instance is equal, so the
    statements built per dialect are built once per process."""

    def now(self) -> ColumnElement[Any]:
        return sa.select(sa.literal_column(_NOW_SQL, sa.Float)).scalar_subquery()

    def insert_events(
        self, conn: Connection, rows: list[tuple[str, int, str, dict[str, Any]]]
    ) -> None:
        """append_events: all rows in one statement, in commit order (see the module), then
        NOTIFY."""
        conn.exec_driver_sql(_INSERT_EVENTS, {"rows": json.dumps(rows)})

    def execute_many(self, conn: Connection, stmt: sa.Update, rows: list[dict[str, Any]]) -> None:
        """One execution for all ``rows``: the statement reads its parameters from a JSON
        recordset (``UPDATE … FROM json_to_recordset(…)``), where ``executemany`` would run
        it once per row, with the driver's per-row work on both sides."""
        conn.execute(_over_rows(stmt), {"rows": json.dumps(rows)})

    def lock_owner(self, conn: Connection, owner: str) -> None:
        """Submits of one owner that check a limit take turns (two could each see room for
        the last place), until the transaction ends; other owners' never wait."""
        conn.exec_driver_sql(_LOCK_OWNER, {"owner": owner})

    def lock_claims(self, conn: Connection) -> None:
        """Claims that keep counted limits take turns: two at once could each see room for
        the last slot (held to the end of the transaction)."""
        conn.exec_driver_sql(_LOCK_CLAIMS)

    def queued_heads(
        self, conn: Connection, owners: list[str], kinds: list[str], per_owner: int
    ) -> list[Head]:
        """Each owner's next ``per_owner`` runnable jobs of ``kinds``, in claim order, locked
        ``FOR UPDATE SKIP LOCKED`` (a concurrent claim takes others): one indexed ``LIMIT``
        query per owner, through ``LATERAL``."""
        rows = conn.exec_driver_sql(
            _QUEUED_HEADS, {"owners": owners, "kinds": kinds, "per_owner": per_owner}
        )
        return [Head(r[0], r[1], r[2]) for r in rows]


@functools.cache
def _over_rows(stmt: sa.Update) -> sa.Update:
    """``stmt`` with each of its named parameters read from one row of a JSON recordset
    (bound as ``rows``), typed as the parameter is, so it runs once for many rows."""
    named = {
        b.key: b
        for b in visitors.iterate(stmt)
        if isinstance(b, BindParameter) and b.required and b.key != "rows"
    }
    source = (
        sa.func.json_to_recordset(sa.cast(sa.bindparam("rows", type_=sa.Text), JSON))
        .table_valued(*(sa.column(key, b.type) for key, b in named.items()))
        .render_derived(name="o", with_types=True)
    )

    def replace(element: Any, **_kw: Any) -> Any:
        if isinstance(element, BindParameter) and element.key in named:
            return source.c[element.key]
        return None

    original: Any = stmt  # typed by its overloads as a column element or None
    return cast(sa.Update, visitors.replacement_traverse(original, {}, replace))
