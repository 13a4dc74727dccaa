"""Jobs, their events and their durable steps.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")
Timestamp = sa.Float(precision=53)
ACTIVE = "status IN ('queued', 'running')"


def _partial_index(name: str, columns: list[str], where: str, *, unique: bool = False) -> None:
    op.create_index(
        name,
        "jobs",
        [sa.text(c) for c in columns],
        unique=unique,
        sqlite_where=sa.text(where),
        postgresql_where=sa.text(where),
    )


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("kind", sa.String(200), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("scope", sa.String(200)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("input", Json),
        sa.Column("output", Json),
        sa.Column("error_type", sa.String(32)),
        sa.Column("error_message", sa.Text),
        sa.Column("progress", sa.Float),
        sa.Column("message", sa.Text),
        sa.Column("partial", Json, nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False, server_default="0"),
        sa.Column("max_attempts", sa.Integer, nullable=False, server_default="1"),
        sa.Column("lease_expiries", sa.Integer, nullable=False, server_default="0"),
        sa.Column("dedupe_key", sa.String(400)),
        sa.Column("priority", sa.Integer, nullable=False, server_default="0"),
        sa.Column("cost", sa.Float, nullable=False, server_default="0"),
        sa.Column("cancel_requested", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("worker_id", sa.String(100)),
        sa.Column("lease_token", sa.String(32)),
        sa.Column("lease_expires_at", Timestamp),
        sa.Column("event_seq", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("started_at", Timestamp),
        sa.Column("finished_at", Timestamp),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.Column("run_at", Timestamp, nullable=False),
        sa.Column("slow_at", Timestamp, nullable=False),
        sa.Column("expire_at", Timestamp, nullable=False),
    )
    _partial_index("ix_jobs_queued", ["priority DESC", "run_at"], "status = 'queued'")
    _partial_index("ix_jobs_running_lease", ["lease_expires_at"], "status = 'running'")
    _partial_index("ix_jobs_active_expire", ["expire_at"], "status = 'queued'")
    _partial_index(
        "uq_jobs_active_dedupe",
        ["owner", "dedupe_key"],
        f"dedupe_key IS NOT NULL AND {ACTIVE}",
        unique=True,
    )
    _partial_index("ix_jobs_finished", ["finished_at"], "finished_at IS NOT NULL")
    op.create_index("ix_jobs_owner", "jobs", ["owner", "id"])
    op.create_index("ix_jobs_owner_scope", "jobs", ["owner", "scope", "id"])
    op.create_index("ix_jobs_owner_dedupe", "jobs", ["owner", "dedupe_key", "id"])
    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column(
            "job_id",
            sa.String(36),
            sa.ForeignKey("jobs.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("data", Json, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.UniqueConstraint("job_id", "seq", name="uq_events_job_seq"),
    )
    op.create_table(
        "steps",
        sa.Column(
            "job_id",
            sa.String(36),
            sa.ForeignKey("jobs.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("output", Json),
        sa.Column("created_at", Timestamp, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("steps")
    op.drop_table("events")
    op.drop_table("jobs")
