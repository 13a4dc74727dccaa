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
#: `PostgresDialect.waiting_heads` in one round trip. The owners with queued jobs after
#: ``after``, then from the first (wrapping round), at most ``n``: each one probe of
#: ``ix_jobs_queued_owner`` (a loose index scan); then each
#: listed owner's next runnable jobs (``LATERAL``, an indexed ``LIMIT`` each: all a claim
#: could take when at most 4 owners wait, else about twice an even share, as
#: `claim_sql.per_owner`). Owners with nothing runnable come back once, with NULLs.
_WAITING_HEADS = f"""
WITH RECURSIVE after_turn(owner) AS (
    SELECT (SELECT owner FROM jobs WHERE status = 'queued' AND owner > %(after)s
            ORDER BY owner LIMIT 1)
    UNION ALL
    SELECT (SELECT owner FROM jobs WHERE status = 'queued' AND owner > a.owner
            ORDER BY owner LIMIT 1)
    FROM after_turn AS a WHERE a.owner IS NOT NULL
), from_first(owner) AS (
    SELECT (SELECT owner FROM jobs WHERE status = 'queued' ORDER BY owner LIMIT 1)
    UNION ALL
    SELECT (SELECT owner FROM jobs WHERE status = 'queued' AND owner > f.owner
            ORDER BY owner LIMIT 1)
    FROM from_first AS f WHERE f.owner < %(after)s
), first_lap AS MATERIALIZED (
    SELECT owner FROM after_turn WHERE owner IS NOT NULL LIMIT %(n)s
), listed AS MATERIALIZED (
    SELECT owner, 0 AS lap FROM first_lap
    UNION ALL
    (SELECT owner, 1 FROM from_first WHERE owner IS NOT NULL AND owner <= %(after)s
     LIMIT greatest(%(n)s - (SELECT count(*) FROM first_lap), 0))
), each AS (
    SELECT CASE WHEN count(*) <= 4 THEN %(limit)s
                ELSE least(%(limit)s, (2 * %(limit)s + count(*) - 1) / count(*) + 1) END AS n
    FROM listed
)
SELECT o.owner, j.id, j.kind
FROM listed AS o
LEFT JOIN LATERAL (
    SELECT id, kind, priority, run_at FROM jobs
    WHERE status = 'queued' AND owner = o.owner AND kind = ANY(%(kinds)s::text[])
      AND run_at <= (SELECT {_NOW_SQL})
    ORDER BY priority DESC, run_at, id
    LIMIT (SELECT n FROM each)
    FOR UPDATE SKIP LOCKED
) AS j ON true
ORDER BY o.lap, o.owner, j.priority DESC, j.run_at, j.id
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

    def waiting_heads(
        self, conn: Connection, after: str, owners: int, kinds: list[str], limit: int
    ) -> tuple[list[str], list[Head]]:
        """The owners in turn and their next runnable jobs of ``kinds``, in claim order, the
        jobs locked ``FOR UPDATE SKIP LOCKED`` (a concurrent claim takes others): one
        statement (`_WAITING_HEADS`)."""
        params = {"after": after, "n": owners, "kinds": kinds, "limit": limit}
        listed: list[str] = []
        heads: list[Head] = []
        for owner, job_id, kind in conn.exec_driver_sql(_WAITING_HEADS, params):
            if not listed or listed[-1] != owner:
                listed.append(owner)
            if job_id is not None:
                heads.append(Head(job_id, owner, kind))
        return listed, heads


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
