"""Credits: the ledger, balances, and where each job's cost stands; claims go by owner.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

Timestamp = sa.Float(precision=53)


_QUEUED = "status = 'queued'"


def upgrade() -> None:
    # Fair claiming reads the queue owner by owner (`claim_sql`).
    op.drop_index("ix_jobs_queued", "jobs")
    op.create_index(
        "ix_jobs_queued_owner",
        "jobs",
        ["owner", sa.text("priority DESC"), "run_at", "id"],
        sqlite_where=sa.text(_QUEUED),
        postgresql_where=sa.text(_QUEUED),
    )
    op.add_column("jobs", sa.Column("credit", sa.String(16)))
    op.add_column("jobs", sa.Column("charge_seq", sa.Integer, nullable=False, server_default="0"))
    op.add_column(
        "jobs", sa.Column("refundable", sa.Boolean, nullable=False, server_default=sa.true())
    )
    op.create_table(
        "credit_entries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("job_id", sa.String(36)),
        sa.Column("kind", sa.String(200)),
        sa.Column("charge_seq", sa.Integer),
        sa.Column("note", sa.Text),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.UniqueConstraint("job_id", "charge_seq", "type", name="uq_credit_entries_job_charge"),
        sa.CheckConstraint(
            "type IN ('grant', 'charge', 'refund', 'adjustment')", name="ck_credit_entries_type"
        ),
        sa.CheckConstraint(
            "(type IN ('charge', 'refund')) = (job_id IS NOT NULL AND charge_seq IS NOT NULL)",
            name="ck_credit_entries_job",
        ),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_credit_entries_owner", "credit_entries", ["owner", "id"])
    op.create_table(
        "credit_balances",
        sa.Column("owner", sa.String(200), primary_key=True),
        sa.Column("balance", sa.BigInteger, nullable=False),
        sa.Column("reserved", sa.BigInteger, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.CheckConstraint(
            "reserved >= 0 AND balance >= reserved", name="ck_credit_balances_covered"
        ),
    )


def downgrade() -> None:
    op.drop_index("ix_jobs_queued_owner", "jobs")
    op.create_index(
        "ix_jobs_queued",
        "jobs",
        [sa.text("priority DESC"), "run_at", "id"],
        sqlite_where=sa.text(_QUEUED),
        postgresql_where=sa.text(_QUEUED),
    )
    op.drop_table("credit_balances")
    op.drop_index("ix_credit_entries_owner", "credit_entries")
    op.drop_table("credit_entries")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("refundable")
        batch.drop_column("charge_seq")
        batch.drop_column("credit")
