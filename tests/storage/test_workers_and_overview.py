"""The worker registry and the operator's overview reads, on every backend: rows upserted,
refreshed, stopped and pruned; jobs finished counted by the minute they finished in; and
every overview read served by an index, never a scan of the jobs."""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

import pytest
import sqlalchemy as sa

import backburner as bb
from backburner.storage import overview_sql
from backburner.storage.postgres_dialect import PostgresDialect
from backburner.storage.sqlite_dialect import SqliteDialect
from backburner.storage.tables import jobs
from backburner.storage.workers_sql import WorkerInfo
from tests.conftest import direct_engine, run_sql


def info(worker_id: str, lease_s: float = 2.0) -> WorkerInfo:
    return WorkerInfo(worker_id, "box", 4242, ("chapter", "portrait"), 8, lease_s)


async def test_a_workers_row_is_upserted_refreshed_and_stopped(
    app: bb.Backburner, db_url: str
) -> None:
    storage = await app.open()
    await storage.upsert_worker(info("box:1:a"), 0)
    [row] = await storage.list_workers(10)
    assert row.info == info("box:1:a")
    assert (row.running, row.stopped_at, row.alive) == (0, None, True)
    assert row.heartbeat_at >= row.started_at and row.silent_s < 1
    run_sql(db_url, "UPDATE workers SET heartbeat_at = heartbeat_at - 10")
    [quiet] = await storage.list_workers(10)
    assert quiet.silent_s >= 10 and not quiet.alive  # silent for longer than its lease
    await storage.upsert_worker(info("box:1:a"), 3)
    [beat] = await storage.list_workers(10)
    assert (beat.running, beat.alive, beat.started_at) == (3, True, row.started_at)
    assert beat.heartbeat_at > row.heartbeat_at
    await storage.upsert_worker(info("box:2:b"), 1)
    assert [w.info.id for w in await storage.list_workers(10)] == ["box:2:b", "box:1:a"]
    assert [w.info.id for w in await storage.list_workers(1)] == ["box:2:b"]
    await storage.stop_worker("box:1:a")
    stopped = {w.info.id: w for w in await storage.list_workers(10)}["box:1:a"]
    assert stopped.stopped_at is not None and (stopped.running, stopped.alive) == (0, False)


async def test_maintenance_prunes_workers_not_heard_of_within_the_retention(
    app: bb.Backburner, db_url: str
) -> None:
    storage = await app.open()
    for worker_id in ("gone", "quiet", "here"):
        await storage.upsert_worker(info(worker_id), 0)
    await storage.stop_worker("gone")
    run_sql(db_url, "UPDATE workers SET heartbeat_at = heartbeat_at - 1000 WHERE id != 'here'")
    await storage.run_maintenance(retention_s=500, limit=100)
    assert [w.info.id for w in await storage.list_workers(10)] == ["here"]
    await storage.upsert_worker(info("quiet"), 2)  # cut off, not dead: it comes back
    assert {w.info.id for w in await storage.list_workers(10)} == {"here", "quiet"}


def _db_clock(db_url: str) -> float:
    """The database's clock now, read through the dialect that stamps the jobs."""
    dialect = SqliteDialect() if db_url.startswith("sqlite") else PostgresDialect()
    engine = direct_engine(db_url)
    try:
        with engine.connect() as conn:
            return float(conn.execute(sa.select(dialect.now())).scalar_one())
    finally:
        engine.dispose()


async def _db_minute(db_url: str) -> float:
    """The start of the database clock's current minute, at least 3 s before it ends."""
    for _ in range(3):
        now = _db_clock(db_url)
        if now % 60 < 57:
            return math.floor(now / 60) * 60.0
        await asyncio.sleep(60 - now % 60 + 0.1)
    raise AssertionError("the database clock never left the end of a minute")


async def test_finished_jobs_count_in_the_minute_they_finished_in(
    app: bb.Backburner, db_url: str
) -> None:
    @app.task
    async def k(ctx: bb.Context, data: dict[str, Any]) -> None: ...

    await app.submit("k", {})  # the one job left queued
    minute = await _db_minute(db_url)
    first = minute - 59 * 60  # the window: this minute and the 59 before it
    finished = [
        ("succeeded", minute - 0.3),  # the previous minute's last moment (a cast rounds it up)
        ("failed", minute - 60),  # the previous minute's first moment
        ("canceled", first + 1),
        ("succeeded", first - 1),  # before the window
        ("failed", minute + 0.5),
    ]
    for status, at in finished:
        job = await app.submit("k", {})
        run_sql(
            db_url,
            "UPDATE jobs SET status = :status, finished_at = :at WHERE id = :id",
            status=status,
            at=at,
            id=job.id,
        )
    overview = await app.operations.overview()
    counts = [(m.succeeded, m.failed, m.canceled) for m in overview.throughput]
    assert overview.throughput[0].minute.timestamp() == first
    assert overview.throughput[-1].minute.timestamp() == minute
    assert counts[0] == (0, 0, 1) and counts[58] == (1, 1, 0) and counts[59] == (0, 1, 0)
    assert sum(map(sum, counts)) == 4
    totals = overview.totals
    assert (totals.succeeded, totals.failed, totals.canceled) == (1, 2, 1)
    assert totals.failure_rate == pytest.approx(2 / 3, abs=1e-4)
    queue = [(c.kind, c.status, c.count) for c in overview.queue]
    assert queue == [("k", "queued", 1), ("k", "failed", 2)]


@pytest.mark.sqlite_only
async def test_overview_reads_use_indexes_not_a_scan_of_the_jobs(
    app: bb.Backburner, db_url: str
) -> None:
    await app.open()
    statements = [
        overview_sql.queue_select(),
        overview_sql.running_select(SqliteDialect(), 100),
        overview_sql.finished_select(time.time() - 3600),
        overview_sql.failed_select("k", 100),
    ]
    # the page's search by dedupe key across owners (`GET /v1/jobs?dedupe_key=`, admin): not
    # a walk of every job in id order (`SCAN jobs USING INDEX sqlite_autoindex_jobs_1`)
    search = sa.select(jobs).where(jobs.c.dedupe_key == "d").order_by(jobs.c.id.desc()).limit(51)
    engine = direct_engine(db_url)
    try:
        with engine.connect() as conn:
            for stmt in statements:
                sql = stmt.compile(conn, compile_kwargs={"literal_binds": True})
                plan = [row[-1] for row in conn.execute(sa.text(f"EXPLAIN QUERY PLAN {sql}"))]
                reads = [step for step in plan if " jobs" in step]
                assert reads and all("USING" in step and "INDEX" in step for step in reads), plan
            sql = search.compile(conn, compile_kwargs={"literal_binds": True})
            plan = [row[-1] for row in conn.execute(sa.text(f"EXPLAIN QUERY PLAN {sql}"))]
            assert plan == ["SEARCH jobs USING INDEX ix_jobs_dedupe (dedupe_key=?)"], plan
    finally:
        engine.dispose()
