"""The claim's index in the claim's own order (priority, run_at, id): no sort of the queue.

Both dialects claim ``ORDER BY priority DESC, run_at, id``; without ``id`` in the index a
planner with no statistics yet (a fresh PostgreSQL table) sorted every queued row per claim.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_QUEUED = "status = 'queued'"


def _queued_index(columns: list[str]) -> None:
    op.create_index(
        "ix_jobs_queued",
        "jobs",
        [sa.text(c) for c in columns],
        sqlite_where=sa.text(_QUEUED),
        postgresql_where=sa.text(_QUEUED),
    )


def upgrade() -> None:
    op.drop_index("ix_jobs_queued", "jobs")
    _queued_index(["priority DESC", "run_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_jobs_queued", "jobs")
    _queued_index(["priority DESC", "run_at"])
