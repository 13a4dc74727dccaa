"""Query plans of the hot paths on PostgreSQL, on a table of 1,000,000 jobs.

```
.venv/bin/python bench/plans.py                  # 1,000,000 jobs (about two minutes)
.venv/bin/python bench/plans.py --jobs 20000     # a smoke run: does the script still work?
.venv/bin/python bench/plans.py --database 'postgresql://u@db:5432/app?schema=plans_check'
```

Makes the schema afresh (dropping one of that name), migrates it by opening a
`PostgresStorage`, bulk-loads jobs with ``INSERT … SELECT FROM generate_series`` (mostly
finished; a few thousand queued and running; a large owner and many small ones, scopes;
events for the newest jobs; webhook deliveries, a few pending), then ``VACUUM ANALYZE``s.

Each hot path is then called through the storage's real method, and the statements it sends
are captured (SQLAlchemy's ``before_cursor_execute``), so what is explained is exactly what
the code issues, with the same parameters. Each is run under ``EXPLAIN (ANALYZE, BUFFERS)``
twice, in a transaction rolled back (the claim is an ``UPDATE``), and the second (warm)
plan is printed. Exits 1 if any plan reads ``jobs``, ``events`` or ``webhook_deliveries``
with a sequential scan. The schema is dropped at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import psycopg
import sqlalchemy as sa

import backburner as bb
from backburner.jobs import JobStatus
from backburner.storage import Claim, ClaimRequest, JobQuery, Outcome, create_storage
from backburner.storage.postgres import PostgresStorage, engine_url

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test?schema=plans_check"
_ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING)
#: The whole run, loading included, must end within this (seconds).
_DEADLINE_S = 900.0
#: One loading statement may take this long (milliseconds) before it is cancelled.
_STATEMENT_TIMEOUT_MS = 600_000
#: Tables a hot path must never read sequentially.
_CHECKED = ("jobs", "events", "webhook_deliveries")
_SEQ_SCAN = re.compile(r"Seq Scan on (\w+)")
_T0 = time.monotonic()

_LOAD_JOBS = """
INSERT INTO jobs (id, kind, owner, scope, status, input, output, error_type, error_message,
    progress, partial, attempt, max_attempts, priority, worker_id, lease_token,
    lease_expires_at, event_seq, webhook, created_at, started_at, finished_at, updated_at,
    run_at, slow_at, expire_at)
SELECT
    -- UUIDv7-shaped: ids sort by creation time, as real ones do
    substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-7' || substr(r, 1, 3) || '-8'
        || substr(r, 4, 3) || '-' || substr(r, 7, 12),
    'kind_' || (i %% 5),
    CASE WHEN i %% 10 = 0 THEN 'owner_big'
        -- a large owner with nothing active now: the worst case for "list active"
        WHEN i %% 20 = 5 AND i <= %(n)s - %(active)s THEN 'owner_done'
        ELSE 'owner_' || (i %% 2000) END,
    CASE WHEN i %% 3 = 0 THEN NULL ELSE 'scope_' || (i %% 300) END,
    st, '{"prompt": "x"}'::jsonb,
    CASE WHEN st = 'succeeded' THEN '{"ok": true}'::jsonb END,
    CASE WHEN st = 'failed' THEN 'handler_error' END,
    CASE WHEN st = 'failed' THEN 'boom' END,
    CASE WHEN st = 'succeeded' THEN 1.0 END, '{}'::jsonb,
    CASE WHEN st = 'queued' THEN 0 ELSE 1 END, 3, CASE WHEN i %% 7 = 0 THEN 1 ELSE 0 END,
    CASE WHEN st = 'running' THEN 'bench-worker' END,
    CASE WHEN st = 'running' THEN r END,
    CASE WHEN st = 'running' THEN now_s + 60 END,
    CASE st WHEN 'queued' THEN 1 WHEN 'running' THEN 2 ELSE 3 END,
    CASE WHEN i %% 100 = 0
        THEN '{"url": "https://hooks.example/bb", "events": ["job.succeeded"]}'::jsonb END,
    t, CASE WHEN st <> 'queued' THEN t + 1 END,
    CASE WHEN st IN ('succeeded', 'failed', 'canceled') THEN t + 5 END,
    t + 5, t, t + 60, t + 86400
FROM (
    SELECT i, s.t, s.now_s,
        lpad(to_hex((s.t * 1000)::bigint), 12, '0') AS h, md5(i::text) AS r,
        CASE
            WHEN i > %(n)s - %(running)s * 5 / 2 AND i %% 5 < 2 THEN 'running'
            WHEN i > %(n)s - %(active)s THEN 'queued'
            WHEN i %% 50 = 0 THEN 'failed'
            WHEN i %% 97 = 0 THEN 'canceled'
            ELSE 'succeeded'
        END AS st
    FROM generate_series(1, %(n)s) AS i,
        LATERAL (SELECT extract(epoch FROM now())::float8 AS now_s) AS c,
        -- spread over the last six days (inside the default retention of seven)
        LATERAL (SELECT c.now_s - 6 * 86400 + i * (6 * 86400.0 / %(n)s) AS t,
                        c.now_s) AS s
) AS g
"""
#: A status event per state each job went through, for the newest jobs: ids in time order.
_LOAD_EVENTS = """
INSERT INTO events (job_id, seq, type, data, created_at)
SELECT j.id, s, 'status',
    jsonb_build_object('status', (ARRAY['queued', 'running', j.status])[s]), j.created_at + s
FROM (SELECT * FROM jobs ORDER BY id DESC LIMIT %(with_events)s) AS j,
    generate_series(1, j.event_seq) AS s
ORDER BY j.id, s
"""
_LOAD_DELIVERIES = """
INSERT INTO webhook_deliveries (id, job_id, owner, url, type, payload, status, attempts,
    next_attempt_at, created_at, finished_at)
SELECT 'msg_' || md5(id), id, owner, webhook ->> 'url', 'job.succeeded', '{}',
    CASE WHEN status IN ('queued', 'running') THEN 'pending' ELSE 'delivered' END, 1,
    coalesce(finished_at, updated_at) + 10, created_at, finished_at
FROM jobs WHERE webhook IS NOT NULL
"""


@dataclass
class Plan:
    """One hot path: what it is, the statement the code sent, and its plan."""

    name: str
    statement: str
    plan: str = ""

    @property
    def seq_scans(self) -> list[str]:
        return [t for t in _SEQ_SCAN.findall(self.plan) if t in _CHECKED]


def main() -> int:
    """Load, explain, check; the exit status says whether every plan used indexes."""
    args = _arguments()
    url, schema = engine_url(args.database)
    if schema is None:
        sys.exit("--database needs ?schema=NAME: the schema this script makes and drops")
    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    started = time.monotonic()
    with psycopg.connect(conninfo, autocommit=True) as admin:
        admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    try:
        plans = asyncio.run(_run(args, conninfo, schema))
    finally:
        if not args.keep:
            with psycopg.connect(conninfo, autocommit=True) as admin:
                admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    bad = [p for p in plans if p.seq_scans]
    print(f"\n{len(plans)} plans in {time.monotonic() - started:.0f}s", end="; ")
    print("sequential scans: " + (", ".join(f"{p.name} ({p.seq_scans})" for p in bad) or "none"))
    return 1 if bad else 0


async def _run(args: argparse.Namespace, conninfo: str, schema: str) -> list[Plan]:
    storage = create_storage(bb.Settings(database_url=args.database, pool_size=2))
    assert isinstance(storage, PostgresStorage)
    try:
        await storage.open()  # makes the schema and migrates it
        with psycopg.connect(conninfo, autocommit=True, options=f"-c search_path={schema}") as db:
            _load(db, args.jobs, args.active)
            plans = await _capture(storage, db)
            for plan in plans:
                plan.plan = _explain(db, plan.statement)
                _print(plan)
        return plans
    finally:
        await storage.close()


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--database", default=DEFAULT_URL, help="a postgresql:// URL ?schema=…")
    parser.add_argument("--jobs", type=int, default=1_000_000, help="rows in jobs")
    parser.add_argument("--keep", action="store_true", help="keep the schema afterwards")
    parser.add_argument(
        "--active", type=int, default=5000, help="queued and running jobs (≤ half the jobs)"
    )
    return parser.parse_args()


def _load(db: psycopg.Connection[Any], n: int, active: int) -> None:
    """Fill the tables, then VACUUM ANALYZE them as autovacuum would have by now."""
    db.execute(f"SET statement_timeout = {_STATEMENT_TIMEOUT_MS}")
    active = min(active, n // 2)
    # Running jobs are bounded by the workers' slots, however long the queue: 2,000 at most.
    running = min(2000, active * 2 // 5)
    sizes = {"n": n, "active": active, "running": running, "with_events": max(n // 5, 1)}
    for name, sql in (("jobs", _LOAD_JOBS), ("events", _LOAD_EVENTS)):
        began = time.monotonic()
        rows = db.execute(sql, sizes).rowcount
        print(f"loaded {rows:,} {name} in {time.monotonic() - began:.1f}s", flush=True)
    db.execute(_LOAD_DELIVERIES)
    for table in _CHECKED:
        db.execute(f"VACUUM ANALYZE {table}")
    counts = db.execute("SELECT status, count(*) FROM jobs GROUP BY 1 ORDER BY 2 DESC").fetchall()
    print("jobs by status: " + ", ".join(f"{s} {c:,}" for s, c in counts))
    _check_deadline()


def _check_deadline() -> None:
    if time.monotonic() - _T0 > _DEADLINE_S:
        sys.exit(f"over {_DEADLINE_S:.0f}s: stopped")


async def _capture(storage: PostgresStorage, db: psycopg.Connection[Any]) -> list[Plan]:
    """Call each hot path through the storage and keep the first statement it sent on a
    table (pool pings, NOTIFYs and the claim's event insert are left out)."""
    sent: list[tuple[str, Any]] = []
    lock = threading.Lock()

    def record(_c: Any, _cur: Any, statement: str, params: Any, _ctx: Any, _many: bool) -> None:
        with lock:
            sent.append((statement, params))

    engine = storage._engine
    sa.event.listen(engine, "before_cursor_execute", record)
    newest = db.execute("SELECT max(id) FROM events").fetchone()
    tail = max((newest[0] if newest else 0) - 300, 0)
    ids = [r[0] for r in db.execute("SELECT id FROM jobs ORDER BY id DESC LIMIT 200 OFFSET 7000")]
    calls: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
        ("get by id", lambda: storage.get_job(ids[0])),
        ("batch status (50 ids)", lambda: storage.get_jobs(ids[:100:2])),
        ("list active by owner (big)", lambda: _active(storage, "owner_big")),
        ("list active by owner (small)", lambda: _active(storage, "owner_77")),
        ("list active by owner (none active)", lambda: _active(storage, "owner_done")),
        ("list active by owner+scope", lambda: _active(storage, "owner_77", "scope_77")),
        ("job events (a per-job SSE stream's read)", lambda: storage.list_events(ids[0])),
        ("scope events, live tail", lambda: _scope(storage, tail)),
        ("scope events, full replay", lambda: _scope(storage, 0)),
        ("event feed, live tail", lambda: storage.event_feed(tail, 500)),
        ("webhook due (seconds_until_due)", storage.seconds_until_webhook_due),
        ("claim 10", lambda: _claim(storage)),
        ("finish 10 (the fenced update)", lambda: _finish(storage, claimed)),
    ]
    claimed: list[Claim] = []
    plans = []
    try:
        for name, call in calls:
            sent.clear()
            result = await call()
            if name.startswith("claim"):
                claimed.extend(result)
            with lock:
                if name.startswith("claim"):  # several statements: explain each
                    picked = [(s, p) for s, p in sent if _in_claim(s)]
                    for statement, params in picked:
                        step = _claim_step(statement)
                        plans.append(Plan(f"{name}, {step}", _inline(db, statement, params)))
                    continue
                statement, params = next((s, p) for s, p in sent if _picked(name, s))
            plans.append(Plan(name, _inline(db, statement, params)))
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    return plans


async def _active(storage: PostgresStorage, owner: str, scope: str | None = None) -> Any:
    return await storage.list_jobs(JobQuery(owner=owner, scope=scope, statuses=_ACTIVE))


async def _scope(storage: PostgresStorage, after_id: int) -> Any:
    return await storage.list_scope_events("owner_77", "scope_77", after_id=after_id)


async def _claim(storage: PostgresStorage) -> Any:
    kinds = tuple(f"kind_{k}" for k in range(5))
    return await storage.claim_jobs("plans", [ClaimRequest(kinds, 10)], 60.0, 10)


async def _finish(storage: PostgresStorage, claimed: list[Claim]) -> Any:
    outcomes = [Outcome(c.lease, JobStatus.SUCCEEDED, output={"ok": True}) for c in claimed]
    return await storage.finish_jobs(outcomes)


def _claim_step(statement: str) -> str:
    """Which of the claim's steps (`claim_sql`) a statement is."""
    for marker, step in (
        ("WITH RECURSIVE", "owners in turn"),
        ("GROUP BY", "running counts"),
        ("LATERAL", "each owner's next jobs"),
        ("UPDATE", "start them"),
    ):
        if marker in statement:
            return step
    return statement.split(None, 3)[0]


def _in_claim(statement: str) -> bool:
    """One of the claim's own statements (its event insert and NOTIFY are left out)."""
    return _on_a_table(statement) and "INSERT INTO events" not in statement


def _picked(name: str, statement: str) -> bool:
    """The statement explained for the call ``name``: the finish's update (after its locking
    read), else the first on a checked table."""
    if name.startswith("finish"):
        return statement.lstrip().startswith("UPDATE")
    return _on_a_table(statement)


def _on_a_table(statement: str) -> bool:
    return any(re.search(rf"\b{t}\b", statement) for t in _CHECKED)


def _inline(db: psycopg.Connection[Any], statement: str, params: Any) -> str:
    """The statement with its parameters as literals, as psycopg would send them: what is
    printed and explained is then one self-contained piece of SQL."""
    return psycopg.ClientCursor(db).mogrify(statement, params)


def _explain(db: psycopg.Connection[Any], statement: str) -> str:
    """``EXPLAIN (ANALYZE, BUFFERS)`` twice (the first warms the cache), rolled back."""
    text = ""
    for _ in range(2):
        with db.transaction(force_rollback=True):
            rows = db.execute(f"EXPLAIN (ANALYZE, BUFFERS) {statement}").fetchall()
            text = "\n".join(r[0] for r in rows)
    _check_deadline()
    return text


def _print(plan: Plan) -> None:
    verdict = f"SEQ SCAN on {', '.join(plan.seq_scans)}" if plan.seq_scans else "index scans"
    print(f"\n=== {plan.name}: {verdict}\n--- {plan.statement.strip()}\n{plan.plan}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
