"""Internal: API keys — stored as hashes, found by hash, revoked by id."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import Connection

from .dialect import SqlDialect
from .records import ApiKey
from .tables import api_keys

__all__ = ["find_api_key", "insert_api_key", "revoke_api_key"]


def insert_api_key(conn: Connection, d: SqlDialect, key: ApiKey, key_hash: str) -> None:
    """Store a new key's hash."""
    conn.execute(
        sa.insert(api_keys).values(
            id=key.id, owner=key.owner, key_hash=key_hash, admin=key.admin, created_at=d.now()
        )
    )


def find_api_key(conn: Connection, d: SqlDialect, key_hash: str) -> ApiKey | None:
    """The unrevoked key with this hash."""
    row = conn.execute(_FIND, {"key_hash": key_hash}).first()
    return None if row is None else ApiKey(id=row.id, owner=row.owner, admin=bool(row.admin))


# Built once: every API request looks its key up, and building the statement costs more
# than running it.
_FIND = sa.select(api_keys.c.id, api_keys.c.owner, api_keys.c.admin).where(
    api_keys.c.key_hash == sa.bindparam("key_hash"), api_keys.c.revoked_at.is_(None)
)


def revoke_api_key(conn: Connection, d: SqlDialect, key_id: str) -> bool:
    """Revoke a key by id; ``False`` when no unrevoked key has it."""
    stmt = (
        sa.update(api_keys)
        .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=d.now())
    )
    return conn.execute(stmt).rowcount > 0
