"""Migrations keep what is stored: an older database upgrades with its rows intact."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

import backburner as bb
from backburner.storage import migrate


def _upgrade_to(path: Path, revision: str) -> None:
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        config = Config()
        config.set_main_option("script_location", str(Path(migrate.__file__).parent / "migrations"))
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
    engine.dispose()


async def test_events_survive_the_autoincrement_rebuild(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _upgrade_to(path, "0002")
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO jobs (id, kind, owner, status, partial, created_at, updated_at, run_at,"
            " slow_at, expire_at, event_seq) VALUES ('j1', 'k', 'alice', 'queued', '{}',"
            " 1, 1, 1, 1, 9e9, 2)"
        )
        conn.executemany(
            "INSERT INTO events (job_id, seq, type, data, created_at)"
            " VALUES ('j1', ?, 'status', ?, 1)",
            [(1, '{"status": "queued"}'), (2, '{"status": "canceled"}')],
        )
    app = bb.Backburner(f"sqlite:///{path}")
    events = await app.events("j1")  # opening migrates to head
    assert [(e.seq, e.data["status"]) for e in events] == [(1, "queued"), (2, "canceled")]
    await app.close()
    with sqlite3.connect(path) as conn:
        sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'events'").fetchone()[0]
        version = conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    assert "AUTOINCREMENT" in sql.upper() and version == migrate.HEAD_REVISION
