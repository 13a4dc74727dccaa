"""Internal: the few things the shared SQL units need from a dialect's module."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy import Connection, RowMapping
from sqlalchemy.sql.elements import ColumnElement

from .records import ClaimRequest

__all__ = ["SqlDialect"]


class SqlDialect(Protocol):
    """Dialect-specific SQL, kept in its own module (``sqlite.py``, ``postgres_dialect.py``)."""

    def __hash__(self) -> int:
        """Dialects are hashable: statements are built once per dialect and cached."""

    def now(self) -> ColumnElement[Any]:
        """The database's clock in epoch seconds: leases are judged by it, never a worker's."""

    def insert_events(
        self, conn: Connection, rows: list[tuple[str, int, str, dict[str, Any]]]
    ) -> None:
        """Insert ``(job_id, seq, type, data)`` event rows, stamped with the database clock."""

    def execute_many(self, conn: Connection, stmt: sa.Update, rows: list[dict[str, Any]]) -> None:
        """Run ``stmt`` (its parameters named ``sa.bindparam``s) for each of ``rows``."""

    def claim(
        self, conn: Connection, worker_id: str, token: str, request: ClaimRequest, lease_s: float
    ) -> Sequence[RowMapping]:
        """Move up to ``request.limit`` runnable queued jobs to running; return their rows."""
