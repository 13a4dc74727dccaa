"""Internal: server secrets — random values made on first use, shared through the database."""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from .dialect import SqlDialect
from .tables import server_secrets

__all__ = ["find_secret", "get_or_create_secret"]


def find_secret(conn: Connection, d: SqlDialect, name: str) -> str | None:
    """The secret called ``name``, if one was made."""
    row = conn.execute(
        sa.select(server_secrets.c.value).where(server_secrets.c.name == name)
    ).first()
    return None if row is None else str(row.value)


def get_or_create_secret(conn: Connection, d: SqlDialect, name: str) -> str:
    """The secret called ``name``, made now if missing. Two nodes may race to make it: the
    loser's insert hits the primary key (inside a savepoint) and both read the winner's."""
    found = find_secret(conn, d, name)
    if found is not None:
        return found
    values = {"name": name, "value": secrets.token_urlsafe(32), "created_at": d.now()}
    try:
        with conn.begin_nested():
            conn.execute(sa.insert(server_secrets).values(**values))
    except IntegrityError:
        pass  # another node made it between our look and our insert
    found = find_secret(conn, d, name)
    assert found is not None  # inserted above, or by whoever won the race
    return found
