"""Per-owner submission rate limits kept in the database, shared by every API process.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

Timestamp = sa.Float(precision=53)


def upgrade() -> None:
    op.create_table(
        "submit_rates",
        sa.Column("owner", sa.String(200), primary_key=True),
        sa.Column("tat", Timestamp, nullable=False),
    )
    op.create_index("ix_submit_rates_tat", "submit_rates", ["tat"])


def downgrade() -> None:
    op.drop_index("ix_submit_rates_tat", "submit_rates")
    op.drop_table("submit_rates")
