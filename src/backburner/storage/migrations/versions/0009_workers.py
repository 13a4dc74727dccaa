"""The worker registry, and failed jobs by kind for the operator's page.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

Timestamp = sa.Float(precision=53)
Json = sa.JSON().with_variant(JSONB(), "postgresql")

_FAILED = "status = 'failed'"
_KEYED = "dedupe_key IS NOT NULL"


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("id", sa.String(100), primary_key=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("kinds", Json, nullable=False),
        sa.Column("concurrency", sa.Integer, nullable=False),
        sa.Column("lease_s", sa.Float, nullable=False),
        sa.Column("running", sa.Integer, nullable=False, server_default="0"),
        sa.Column("started_at", Timestamp, nullable=False),
        sa.Column("heartbeat_at", Timestamp, nullable=False),
        sa.Column("stopped_at", Timestamp),
    )
    op.create_index("ix_workers_heartbeat", "workers", ["heartbeat_at"])
    # Counting and retrying failed jobs by kind reads only failed rows (`overview_sql`).
    op.create_index(
        "ix_jobs_failed_kind",
        "jobs",
        ["kind", "id"],
        sqlite_where=sa.text(_FAILED),
        postgresql_where=sa.text(_FAILED),
    )
    # The operator's search by dedupe key across owners (`ix_jobs_owner_dedupe` needs one).
    op.create_index(
        "ix_jobs_dedupe",
        "jobs",
        ["dedupe_key", "id"],
        sqlite_where=sa.text(_KEYED),
        postgresql_where=sa.text(_KEYED),
    )


def downgrade() -> None:
    op.drop_index("ix_jobs_dedupe", "jobs")
    op.drop_index("ix_jobs_failed_kind", "jobs")
    op.drop_index("ix_workers_heartbeat", "workers")
    op.drop_table("workers")
