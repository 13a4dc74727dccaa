"""SQLite's SQL for the shared units: the clock, the event and plain-job inserts, and the
claim's listing of waiting owners and their next jobs (`SqliteStorage` runs the units)."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.sql.elements import ColumnElement

from .claim_sql import per_owner
from .fair_share import Head
from .tables import jobs

__all__ = ["NOW_SQL", "SqliteDialect"]

#: The database's clock in epoch seconds (``unixepoch('subsec')`` needs SQLite 3.42).
NOW_SQL = "((julianday('now') - 2440587.5) * 86400.0)"
_INSERT_EVENTS = (
    f"INSERT INTO events (job_id, seq, type, data, created_at) VALUES (?, ?, ?, ?, {NOW_SQL})"
)


class SqliteDialect:
    """SQLite's SQL for the shared units."""

    def now(self) -> ColumnElement[Any]:
        return sa.literal_column(NOW_SQL, sa.Float)

    def insert_events(
        self, conn: Connection, rows: list[tuple[str, int, str, dict[str, Any]]]
    ) -> None:
        """append_events: the driver's own ``executemany``, JSON encoded here.

        Every job change writes an event, so this is the hottest insert there is; going
        past SQLAlchemy's per-row parameter processing halves its cost.
        """
        conn.exec_driver_sql(
            _INSERT_EVENTS, [(j, seq, kind, json.dumps(data)) for j, seq, kind, data in rows]
        )

    def clock(self, conn: Connection) -> float:
        """The database's clock now (`insert_sql.insert_plain_jobs` reads it once per batch)."""
        raw: Any = conn.connection.dbapi_connection
        return float(raw.execute(f"SELECT {NOW_SQL}").fetchone()[0])

    def insert_jobs(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        """`insert_sql.insert_plain_jobs`: the driver's own ``executemany``, JSON encoded here
        as the columns' SQLAlchemy types would (SQLAlchemy's per-row parameter processing
        cost more than the insert)."""
        sql, columns = _jobs_insert(tuple(rows[0]))
        conn.exec_driver_sql(sql, [tuple(encode(row[c]) for c, encode in columns) for row in rows])

    def execute_many(self, conn: Connection, stmt: sa.Update, rows: list[dict[str, Any]]) -> None:
        """The driver's ``executemany``: in process, one statement per row costs little."""
        conn.execute(stmt, rows)

    def lock_owner(self, conn: Connection, owner: str) -> None:
        """Nothing to do: every write transaction holds SQLite's one write lock."""

    def lock_claims(self, conn: Connection) -> None:
        """Nothing to do: every write transaction holds SQLite's one write lock."""

    def waiting_heads(
        self, conn: Connection, after: str, owners: int, kinds: list[str], limit: int
    ) -> tuple[list[str], list[Head]]:
        """The owners in turn, then their next runnable jobs of ``kinds`` in claim order:
        two statements on the driver's own cursor (`_WAITING_OWNERS`, then a ``UNION ALL``
        of one indexed ``LIMIT`` query per owner: SQLite has no ``LATERAL``)."""
        raw: Any = conn.connection.dbapi_connection
        listed = [r[0] for r in raw.execute(_WAITING_OWNERS, (after, owners))]
        if len(listed) < owners and after:  # wrap round to the first owners
            seen = set(listed)
            wrapped = raw.execute(_WAITING_OWNERS, ("", owners - len(listed)))
            listed += [o for (o,) in wrapped if o <= after and o not in seen]
        if not listed:
            return [], []
        each = per_owner(limit, len(listed))
        params: list[Any] = []
        for owner in listed:
            params += [owner, *kinds, each]
        rows = raw.execute(_heads_sql(len(listed), len(kinds)), params).fetchall()
        return listed, _in_claim_order(rows)


#: The owners with queued jobs after ``?``, in order, at most ``?``: each step one probe of
#: ``ix_jobs_queued_owner`` for the next owner (a loose index scan), so the cost is the
#: number of owners listed, whatever their backlogs.
_WAITING_OWNERS = """
WITH RECURSIVE waiting(owner) AS (
    SELECT (SELECT owner FROM jobs WHERE status = 'queued' AND owner > ?1
            ORDER BY owner LIMIT 1)
    UNION ALL
    SELECT (SELECT owner FROM jobs WHERE status = 'queued' AND owner > waiting.owner
            ORDER BY owner LIMIT 1)
    FROM waiting WHERE waiting.owner IS NOT NULL
)
SELECT owner FROM waiting WHERE owner IS NOT NULL LIMIT ?2
"""


@functools.cache
def _heads_sql(owners: int, kinds: int) -> str:
    """`SqliteDialect.waiting_heads`' statement for this many owners and kinds."""
    marks = ", ".join("?" * kinds)
    one = (
        "SELECT * FROM (SELECT id, owner, kind, priority, run_at FROM jobs"
        f" WHERE status = 'queued' AND owner = ? AND kind IN ({marks}) AND run_at <= {NOW_SQL}"
        " ORDER BY priority DESC, run_at, id LIMIT ?)"
    )
    return " UNION ALL ".join([one] * owners)


def _in_claim_order(rows: Any) -> list[Head]:
    """Heads from ``(id, owner, kind, priority, run_at)`` rows, each owner's in claim order."""
    ordered = sorted(rows, key=lambda r: (r[1], -r[3], r[4], r[0]))
    return [Head(r[0], r[1], r[2]) for r in ordered]


@functools.cache
def _jobs_insert(columns: tuple[str, ...]) -> tuple[str, list[tuple[str, Callable[[Any], Any]]]]:
    """`SqliteDialect.insert_jobs`'s statement for these columns, and each column's encoder:
    JSON columns as SQLAlchemy's JSON type stores them, the rest as given."""
    sql = f"INSERT INTO jobs ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    return sql, [(c, _encoder(c)) for c in columns]


def _encoder(column: str) -> Callable[[Any], Any]:
    """How a value of ``column`` goes to the driver (a SQL NULL stays one where the column
    keeps Python ``None`` as NULL)."""
    kind = jobs.c[column].type
    if not isinstance(kind, sa.JSON):
        return _same
    if kind.none_as_null:
        return lambda value: None if value is None else json.dumps(value)
    return json.dumps


def _same(value: Any) -> Any:
    return value
