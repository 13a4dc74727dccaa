"""Internal: bring a database's schema to the current revision with Alembic."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import Connection

__all__ = ["HEAD_REVISION", "current_revision", "upgrade"]

#: The newest migration; a test checks it matches Alembic's head.
HEAD_REVISION = "0010"

_SCRIPTS = Path(__file__).parent / "migrations"


def current_revision(conn: Connection) -> str | None:
    """The schema's revision, or ``None`` for an empty database."""
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(conn: Connection) -> bool:
    """Upgrade to head inside the caller's transaction; ``False`` when already there."""
    if current_revision(conn) == HEAD_REVISION:
        return False
    from alembic import command  # imported only when there is work: it is slow to import
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    config.attributes["connection"] = conn
    command.upgrade(config, "head")
    return True
