"""Internal: the few things the shared SQL units need from a dialect's module."""

from __future__ import annotations

from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.sql.elements import ColumnElement

from .fair_share import Head

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

    def lock_owner(self, conn: Connection, owner: str) -> None:
        """Make this owner's limit checks take turns, until this transaction ends."""

    def lock_claims(self, conn: Connection) -> None:
        """Make claims that keep counted limits take turns, until this transaction ends."""

    def waiting_heads(
        self, conn: Connection, after: str, owners: int, kinds: list[str], limit: int
    ) -> tuple[list[str], list[Head]]:
        """Up to ``owners`` owners with queued jobs, in turn from after ``after`` (wrapping
        round), and each one's next runnable queued jobs of ``kinds`` (as many as a claim of
        ``limit`` could give it, `claim_sql.per_owner`): grouped by owner in that order,
        each owner's highest priority first, then oldest."""
