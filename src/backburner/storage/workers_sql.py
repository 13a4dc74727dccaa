"""Internal: the worker registry — a row per worker process, kept fresh by its heartbeat.

A worker upserts its row when it starts and at each heartbeat (one ``UPDATE`` per heartbeat
period, busy or idle), stamps ``stopped_at`` when it stops cleanly, and maintenance deletes
the rows of workers not heard of for longer than the retention. Times are the database's
clock, as for leases: a worker's own clock never decides whether it looks alive.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import Connection

from .dialect import SqlDialect
from .records import to_datetime
from .tables import workers

__all__ = [
    "WorkerInfo",
    "WorkerStatus",
    "list_workers",
    "prune_workers",
    "stop_worker",
    "upsert_worker",
]


@dataclass(frozen=True)
class WorkerInfo:
    """What a worker says about itself when it registers."""

    #: The id its claims write into ``jobs.worker_id`` (``host:pid:random``).
    id: str
    host: str
    pid: int
    #: The kinds it handles.
    kinds: tuple[str, ...]
    #: The most jobs it runs at once.
    concurrency: int
    #: Its lease in seconds: it heartbeats every third of it.
    lease_s: float


@dataclass(frozen=True)
class WorkerStatus:
    """A registered worker as last heard of."""

    info: WorkerInfo
    #: Jobs it held at its last heartbeat.
    running: int
    started_at: datetime
    heartbeat_at: datetime
    #: When it stopped cleanly; ``None`` while it runs (or after it died without stopping).
    stopped_at: datetime | None
    #: Seconds since its last heartbeat, by the database's clock.
    silent_s: float

    @property
    def alive(self) -> bool:
        """Running and heard of within its lease (a silent worker's jobs are reclaimed)."""
        return self.stopped_at is None and self.silent_s < self.info.lease_s


def upsert_worker(conn: Connection, d: SqlDialect, info: WorkerInfo, running: int) -> None:
    """upsert_worker: refresh the worker's heartbeat (and running count), inserting its row
    when there is none — at start, or after maintenance pruned a worker long cut off.

    An ``UPDATE`` first, not a dialect's ``ON CONFLICT``: a heartbeat almost always finds
    its row, and the ids are unique per process, so no two writers race to insert one.
    """
    now = d.now()
    refreshed = conn.execute(
        sa.update(workers).where(workers.c.id == info.id).values(heartbeat_at=now, running=running)
    )
    if refreshed.rowcount:
        return
    conn.execute(
        sa.insert(workers).values(
            id=info.id,
            host=info.host,
            pid=info.pid,
            kinds=list(info.kinds),
            concurrency=info.concurrency,
            lease_s=info.lease_s,
            running=running,
            started_at=now,
            heartbeat_at=now,
        )
    )


def stop_worker(conn: Connection, d: SqlDialect, worker_id: str) -> None:
    """stop_worker: the worker stopped cleanly — nothing running, stopped now."""
    now = d.now()
    conn.execute(
        sa.update(workers)
        .where(workers.c.id == worker_id)
        .values(stopped_at=now, heartbeat_at=now, running=0)
    )


def list_workers(conn: Connection, d: SqlDialect, limit: int) -> list[WorkerStatus]:
    """list_workers: the ``limit`` workers heard of most recently, newest first (an
    indexed ``LIMIT`` on ``ix_workers_heartbeat``: short-lived burst workers, one per
    tick, may leave many rows until they are pruned)."""
    silent_s = (d.now() - workers.c.heartbeat_at).label("silent_s")
    stmt = (
        sa.select(workers, silent_s)
        .order_by(workers.c.heartbeat_at.desc(), workers.c.id)
        .limit(limit)
    )
    return [_status(row) for row in conn.execute(stmt).mappings()]


def _status(row: sa.RowMapping) -> WorkerStatus:
    info = WorkerInfo(
        id=row["id"],
        host=row["host"],
        pid=row["pid"],
        kinds=tuple(row["kinds"] or ()),
        concurrency=row["concurrency"],
        lease_s=row["lease_s"],
    )
    return WorkerStatus(
        info=info,
        running=row["running"],
        started_at=_required(row["started_at"]),
        heartbeat_at=_required(row["heartbeat_at"]),
        stopped_at=to_datetime(row["stopped_at"]),
        silent_s=max(float(row["silent_s"]), 0.0),
    )


def _required(value: float) -> datetime:
    at = to_datetime(value)
    assert at is not None  # a NOT NULL column
    return at


def prune_workers(conn: Connection, d: SqlDialect, retention_s: float) -> int:
    """prune_workers: forget workers not heard of for longer than ``retention_s`` (stopped
    or dead); a worker that is only cut off re-inserts its row at its next heartbeat."""
    stmt = sa.delete(workers).where(workers.c.heartbeat_at < d.now() - retention_s)
    return conn.execute(stmt).rowcount
