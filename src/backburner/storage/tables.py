"""Internal: the tables, as SQLAlchemy Core, shared by every dialect.

Timestamps are seconds since the Unix epoch (a float) in every dialect: arithmetic such as
"now + lease" is then plain ``+`` and only the expression for the database's clock differs.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

__all__ = [
    "api_keys",
    "credit_balances",
    "credit_entries",
    "events",
    "idempotency_keys",
    "jobs",
    "metadata",
    "server_secrets",
    "steps",
    "submit_rates",
    "webhook_deliveries",
    "workers",
]

metadata = sa.MetaData()

Json = sa.JSON().with_variant(JSONB(), "postgresql")
#: A JSON column where Python ``None`` is SQL ``NULL`` (not JSON ``null``), so it can be filtered.
NullableJson = sa.JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")
Timestamp = sa.Float(precision=53)

_ACTIVE = "status IN ('queued', 'running')"


def _where(condition: str) -> dict[str, Any]:
    """A partial index's condition, for every dialect that has them."""
    return {"sqlite_where": sa.text(condition), "postgresql_where": sa.text(condition)}


jobs = sa.Table(
    "jobs",
    metadata,
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
    # Times this job's lease expired (its worker died); 3 make it `worker_lost`.
    sa.Column("lease_expiries", sa.Integer, nullable=False, server_default="0"),
    sa.Column("dedupe_key", sa.String(400)),
    sa.Column("priority", sa.Integer, nullable=False, server_default="0"),
    sa.Column("cost", sa.Float, nullable=False, server_default="0"),
    # Where the job's cost stands: NULL (free), reserved, charged, refunded or released
    # (a reservation given back unspent). Active jobs are only ever NULL, reserved or charged.
    sa.Column("credit", sa.String(16)),
    # How many times the job has been charged: its charge entries are numbered 1, 2 …
    sa.Column("charge_seq", sa.Integer, nullable=False, server_default="0"),
    # The kind's policy when the job was submitted: refund a charge when it ends unsuccessfully.
    sa.Column("refundable", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("cancel_requested", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("worker_id", sa.String(100)),
    # The fence: every write a worker makes names the token it was given at claim time.
    sa.Column("lease_token", sa.String(32)),
    sa.Column("lease_expires_at", Timestamp),
    # The last event's sequence number; the next event gets event_seq + 1.
    sa.Column("event_seq", sa.Integer, nullable=False, server_default="0"),
    # {url, events}: where the job's status changes are POSTed.
    sa.Column("webhook", NullableJson),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("started_at", Timestamp),
    sa.Column("finished_at", Timestamp),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.Column("run_at", Timestamp, nullable=False),
    sa.Column("slow_at", Timestamp, nullable=False),
    sa.Column("expire_at", Timestamp, nullable=False),
)

# The claim lists the owners with queued jobs (one probe per owner) and reads each owner's
# next jobs by priority, then age, then id (its exact ORDER BY, so no sort): `claim_sql`.
# Partial: only queued jobs are in it.
sa.Index(
    "ix_jobs_queued_owner",
    jobs.c.owner,
    jobs.c.priority.desc(),
    jobs.c.run_at,
    jobs.c.id,
    **_where("status = 'queued'"),
)
sa.Index(
    "ix_jobs_running_lease",
    jobs.c.lease_expires_at,
    **_where("status = 'running'"),
)
sa.Index(
    "ix_jobs_active_expire",
    jobs.c.expire_at,
    **_where("status = 'queued'"),
)
# At most one active job per (owner, dedupe key): the database, not the caller, enforces it.
sa.Index(
    "uq_jobs_active_dedupe",
    jobs.c.owner,
    jobs.c.dedupe_key,
    unique=True,
    **_where(f"dedupe_key IS NOT NULL AND {_ACTIVE}"),
)
sa.Index("ix_jobs_owner", jobs.c.owner, jobs.c.id)
# "My active jobs" (by owner, or owner and scope): most of an owner's jobs are finished, so a
# partial index finds the few active ones without reading the rest.
sa.Index("ix_jobs_active_owner", jobs.c.owner, jobs.c.id, **_where(_ACTIVE))
sa.Index("ix_jobs_owner_scope", jobs.c.owner, jobs.c.scope, jobs.c.id)
sa.Index("ix_jobs_owner_dedupe", jobs.c.owner, jobs.c.dedupe_key, jobs.c.id)
sa.Index(
    "ix_jobs_finished",
    jobs.c.finished_at,
    **_where("finished_at IS NOT NULL"),
)
# The operator's failed jobs by kind (counted, and retried in bulk): only failed rows are in it,
# so the jobs that succeed — most of them — never touch it.
sa.Index("ix_jobs_failed_kind", jobs.c.kind, jobs.c.id, **_where("status = 'failed'"))
# The operator's search by dedupe key across owners; jobs without a key are not in it.
sa.Index("ix_jobs_dedupe", jobs.c.dedupe_key, jobs.c.id, **_where("dedupe_key IS NOT NULL"))

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column(
        "job_id", sa.String(36), sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("data", Json, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.UniqueConstraint("job_id", "seq", name="uq_events_job_seq"),
    # Never reuse an id, even after the newest events' job is deleted: scope streams resume
    # from an event id and would silently skip a reused one.
    sqlite_autoincrement=True,
)

steps = sa.Table(
    "steps",
    metadata,
    sa.Column(
        "job_id", sa.String(36), sa.ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("output", Json),
    sa.Column("created_at", Timestamp, nullable=False),
)

# The credits ledger: append-only. Amounts are whole millionths of a credit (exact sums), and
# signed: what the entry added to the owner's balance. A job's charges and refunds are keyed by
# (job, charge number): the database refuses a second charge, or a second refund, of one charge.
# No foreign key to jobs: the ledger outlives deleted jobs.
credit_entries = sa.Table(
    "credit_entries",
    metadata,
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
sa.Index("ix_credit_entries_owner", credit_entries.c.owner, credit_entries.c.id)

# Each owner's balance, kept in the same transaction as every entry (and every reservation):
# derived from the ledger, never negative, and never below what queued jobs reserved.
credit_balances = sa.Table(
    "credit_balances",
    metadata,
    sa.Column("owner", sa.String(200), primary_key=True),
    sa.Column("balance", sa.BigInteger, nullable=False),
    sa.Column("reserved", sa.BigInteger, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.CheckConstraint("reserved >= 0 AND balance >= reserved", name="ck_credit_balances_covered"),
)

# API keys: only a hash of each key is stored; the key itself is shown once, at creation.
api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("admin", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("revoked_at", Timestamp),
)

# Idempotency-Key: the same key from the same owner within 24 h returns the same job.
idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("owner", sa.String(200), primary_key=True),
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("job_id", sa.String(36), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
)

# Server secrets (e.g. the browser-token signing key): made on first use, so every API node
# sharing the database agrees on them with no configuration.
server_secrets = sa.Table(
    "server_secrets",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("value", sa.String(200), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
)

# The webhook outbox: a row per delivery, written in the transaction that changed the job, so a
# crash between the change and the POST cannot lose it. Deleted with its job.
webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    # The ``webhook-id`` header: the same on every retry, so receivers can drop duplicates.
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column(
        "job_id", sa.String(36), sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    # ``job.succeeded`` …
    sa.Column("type", sa.String(32), nullable=False),
    # The body, as sent: the job as it was when the event happened.
    sa.Column("payload", sa.Text, nullable=False),
    # ``pending``, ``delivered`` or ``failed`` (no attempts left, or the address was refused).
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    # When a sender may (re)try it; a sender that claims it pushes this past its timeout.
    sa.Column("next_attempt_at", Timestamp, nullable=False),
    sa.Column("last_status_code", sa.Integer),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("finished_at", Timestamp),
)
sa.Index(
    "ix_webhook_deliveries_due",
    webhook_deliveries.c.next_attempt_at,
    **_where("status = 'pending'"),
)
sa.Index("ix_webhook_deliveries_job", webhook_deliveries.c.job_id)

# The worker registry: a row per worker process (its id is what ``jobs.worker_id`` names),
# upserted when it starts and at each heartbeat, stamped when it stops cleanly; maintenance
# deletes rows not heard of for longer than the retention.
workers = sa.Table(
    "workers",
    metadata,
    sa.Column("id", sa.String(100), primary_key=True),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    # The kinds it handles (names), and the most jobs it runs at once.
    sa.Column("kinds", Json, nullable=False),
    sa.Column("concurrency", sa.Integer, nullable=False),
    # Its lease: a worker silent for longer is stale (its jobs' leases expire too).
    sa.Column("lease_s", sa.Float, nullable=False),
    # Jobs it held at its last heartbeat.
    sa.Column("running", sa.Integer, nullable=False, server_default="0"),
    sa.Column("started_at", Timestamp, nullable=False),
    sa.Column("heartbeat_at", Timestamp, nullable=False),
    sa.Column("stopped_at", Timestamp),
)
sa.Index("ix_workers_heartbeat", workers.c.heartbeat_at)

# Per-owner submission rate limits, shared by every API process and machine: the owner's
# "theoretical arrival time" (GCRA, see `ratelimit_sql`). A row whose time has passed says
# no more than a missing one, so maintenance deletes those.
submit_rates = sa.Table(
    "submit_rates",
    metadata,
    sa.Column("owner", sa.String(200), primary_key=True),
    sa.Column("tat", Timestamp, nullable=False),
)
sa.Index("ix_submit_rates_tat", submit_rates.c.tat)
