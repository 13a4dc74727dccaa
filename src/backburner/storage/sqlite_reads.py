"""Internal: SQLite's hottest read — one job by id — on the calling thread, on the driver.

Apps poll `GET /v1/jobs/{id}` more than anything else. Through the reader pool a read cost a
hop to a thread and back, SQLAlchemy's transaction and its statement: about 350 µs of CPU.
Here it is one ``SELECT`` on a connection of the calling thread's own: about 30 µs. In WAL
mode a read never waits for a writer, so it may run on an event loop; should SQLite still
answer busy (a WAL being recovered), the caller falls back to the pool.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

from ..jobs import Job
from .records import row_to_job
from .tables import jobs

__all__ = ["InlineReads"]

_COLUMNS = tuple(c.name for c in jobs.c)
_GET = f"SELECT {', '.join(_COLUMNS)} FROM jobs WHERE id = ?"
#: Stored as JSON text, decoded as SQLAlchemy's JSON type would (``'null'`` is ``None``). The
#: columns have NUMERIC affinity, so SQLite hands back a JSON number as a number already.
_JSON = tuple(c.name for c in jobs.c if c.name in ("input", "output", "partial", "webhook"))


class InlineReads:
    """Reads on the calling thread: a read-only connection per thread, made on first use."""

    def __init__(self, path: Path, busy_timeout_s: float) -> None:
        self._path = path
        self._busy_timeout_ms = int(busy_timeout_s * 1000)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._opened: list[sqlite3.Connection] = []

    def get_job(self, job_id: str) -> Job | None:
        """The job, or ``None``; `sqlite3.OperationalError` when SQLite is busy."""
        row = self._connection().execute(_GET, (job_id,)).fetchone()
        if row is None:
            return None
        values: dict[str, Any] = dict(zip(_COLUMNS, row, strict=True))
        for column in _JSON:
            if isinstance(values[column], str):
                values[column] = json.loads(values[column])
        return row_to_job(values)  # type: ignore[arg-type]

    def close(self) -> None:
        """Close every thread's connection."""
        with self._lock:
            opened, self._opened = self._opened, []
        for conn in opened:
            conn.close()

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            # check_same_thread off only so that `close` may close it from another thread.
            conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
            conn.execute("PRAGMA query_only = ON")
            self._local.conn = conn
            with self._lock:
                self._opened.append(conn)
        return conn
