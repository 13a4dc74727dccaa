"""The PostgreSQL backend's own guarantees: migrating once from many nodes, claims that
never share a job, wake-ups by LISTEN/NOTIFY across nodes, and reconnecting after the
server drops connections. Each test has a schema of its own (`pg_url`); several "nodes" are
several storages, each with its own pool and listener, as separate processes would have.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

import backburner as bb
from backburner.storage import ClaimRequest, Storage, create_storage, migrate
from backburner.storage.postgres import PostgresStorage, engine_url
from backburner.storage.postgres_dialect import PostgresDialect
from backburner.storage.waiters import Waiters
from tests.conftest import POSTGRES_URL, admin_sql, run_sql

S = bb.JobStatus
pg = pytest.mark.postgresql


@pytest.fixture
async def app(pg_url: str) -> AsyncIterator[bb.Backburner]:
    application = bb.Backburner(settings=bb.Settings(database_url=pg_url, lease_s=2.0))

    @application.task
    async def k(ctx: bb.Context, data: dict[str, Any]) -> None: ...

    yield application
    await application.close()


@pytest.fixture
async def nodes(pg_url: str) -> AsyncIterator[list[Storage]]:
    """Four more storages on the same schema: four other nodes."""
    storages = [create_storage(bb.Settings(database_url=pg_url)) for _ in range(4)]
    yield storages
    for storage in storages:
        await storage.close()


def _backends(pg_url: str, query_like: str = "%") -> list[int]:
    """The server processes of this test's connections (whose last query is like that)."""
    name = pg_url.rsplit("application_name=", 1)[1]
    return [
        row[0]
        for row in admin_sql(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s AND query LIKE %s",
            name,
            query_like,
        )
    ]


@pg
async def test_nodes_starting_together_migrate_once(
    pg_url: str, nodes: list[Storage], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="backburner.storage.postgres")
    await asyncio.gather(*(node.open() for node in nodes))
    migrated = [r for r in caplog.records if getattr(r, "action", None) == "db_migrated"]
    assert len(migrated) == 1
    [(version,)] = run_sql(pg_url, "SELECT version_num FROM alembic_version")
    assert version == migrate.HEAD_REVISION
    for node in nodes:
        await node.check_ready()


@pg
async def test_the_tables_live_in_the_schema_the_url_names(pg_url: str, app: bb.Backburner) -> None:
    await app.open()
    schema = pg_url.split("schema=", 1)[1].split("&", 1)[0]
    tables = admin_sql(
        "SELECT table_schema FROM information_schema.tables WHERE table_name = 'jobs'"
    )
    assert (schema,) in tables and ("public",) not in tables


@pg
async def test_every_migration_goes_down_and_up_again(pg_url: str, app: bb.Backburner) -> None:
    await app.open()
    url, schema = pg_url.split("?", 1)[0], pg_url.split("schema=", 1)[1].split("&", 1)[0]
    engine = sa.create_engine(
        url.replace("postgresql://", "postgresql+psycopg://"),
        poolclass=sa.NullPool,
        connect_args={"options": f"-c search_path={schema}", "application_name": schema},
    )
    try:
        for target in ("base", "head"):
            with engine.begin() as conn:
                config = Config()
                config.set_main_option(
                    "script_location", str(Path(migrate.__file__).parent / "migrations")
                )
                config.attributes["connection"] = conn
                (command.downgrade if target == "base" else command.upgrade)(config, target)
    finally:
        engine.dispose()
    job = await app.submit("k", {"a": 1})
    assert (await app.get(job.id)).input == {"a": 1}


@pg
async def test_claims_on_many_nodes_never_share_a_job(
    app: bb.Backburner, nodes: list[Storage]
) -> None:
    submitted = {(await app.submit("k", {}, priority=i % 3)).id for i in range(120)}
    claimed: list[str] = []

    async def drain(node: Storage, worker: str) -> None:
        for _ in range(100):
            claims = await node.claim_jobs(worker, [ClaimRequest(("k",), 7)], 30.0, 7)
            if not claims:
                return
            priorities = [c.job.priority for c in claims]
            assert priorities == sorted(priorities, reverse=True)
            claimed.extend(c.job.id for c in claims)

    await asyncio.gather(*(drain(node, f"w{i}") for i, node in enumerate(nodes)))
    assert sorted(claimed) == sorted(submitted)  # each job once, none twice
    jobs = await app.get_many(list(submitted))
    assert {j.status for j in jobs} == {S.RUNNING} and {j.attempt for j in jobs} == {1}


@pg
async def test_a_claim_skips_a_job_another_transaction_has_locked(
    pg_url: str, app: bb.Backburner
) -> None:
    urgent = await app.submit("k", {}, priority=5)
    other = await app.submit("k", {})
    storage = await app.open()
    schema = pg_url.split("schema=", 1)[1].split("&", 1)[0]
    with psycopg.connect(POSTGRES_URL, options=f"-c search_path={schema}") as holder:
        holder.execute("SELECT id FROM jobs WHERE id = %s FOR UPDATE", (urgent.id,))
        started = time.monotonic()
        claims = await storage.claim_jobs("w", [ClaimRequest(("k",), 2)], 30.0, 2)
        assert time.monotonic() - started < 2.0  # skipped, not waited for
        assert [c.job.id for c in claims] == [other.id]
    claims = await storage.claim_jobs("w", [ClaimRequest(("k",), 2)], 30.0, 2)
    assert [c.job.id for c in claims] == [urgent.id]


async def _listening(storage: Storage) -> Storage:
    """``storage`` once its listener listens (the first wait starts it and returns then)."""
    await storage.wait_for_change(5.0)
    return storage


async def _woken_by(storage: Storage, change: Any, limit_s: float = 5.0) -> float:
    """Seconds from ``change()`` (on another node) until ``storage`` is woken."""
    waiting = asyncio.ensure_future(storage.wait_for_change(limit_s))
    await asyncio.sleep(0.05)
    assert not waiting.done()  # nothing to wake it yet
    started = time.monotonic()
    await change()
    await waiting
    return time.monotonic() - started


@pg
async def test_a_change_on_one_node_wakes_waiters_on_another_at_once(
    app: bb.Backburner, nodes: list[Storage]
) -> None:
    job = await app.submit("k", {})
    waiter = await _listening(nodes[0])
    assert await _woken_by(waiter, lambda: app.submit("k", {})) < 1.0
    assert await _woken_by(waiter, lambda: app.cancel(job.id)) < 1.0
    assert await _woken_by(waiter, lambda: app.delete(job.id)) < 1.0
    # nothing happening: the wait lasts its whole timeout
    started = time.monotonic()
    await waiter.wait_for_change(0.3)
    assert time.monotonic() - started >= 0.25


@pg
async def test_the_listener_reconnects_when_its_connection_is_killed(
    pg_url: str, app: bb.Backburner, nodes: list[Storage]
) -> None:
    waiter = await _listening(nodes[0])
    assert await _woken_by(waiter, lambda: app.submit("k", {})) < 1.0
    [listener] = _backends(pg_url, "SELECT 1") or _backends(pg_url, "LISTEN%")
    admin_sql("SELECT pg_terminate_backend(%s)", listener)
    started = time.monotonic()
    await waiter.wait_for_change(5.0)  # woken when it listens again (it may have missed news)
    assert time.monotonic() - started < 2.0
    assert _backends(pg_url, "LISTEN%")
    assert await _woken_by(waiter, lambda: app.submit("k", {})) < 1.0


@pg
async def test_connections_dropped_by_the_server_are_replaced(
    pg_url: str, app: bb.Backburner
) -> None:
    job = await app.submit("k", {})
    pids = _backends(pg_url)
    assert pids
    admin_sql("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", pids)
    assert (await app.get(job.id)).id == job.id  # a fresh connection, no error
    assert (await app.cancel(job.id)).status is S.CANCELED


@pg
async def test_deadlocks_and_serialization_failures_are_retried(app: bb.Backburner) -> None:
    storage = await app.open()
    assert isinstance(storage, PostgresStorage)
    calls: list[str] = []

    def flaky(conn: sa.Connection, _d: object) -> int:
        calls.append("try")
        if len(calls) < 3:
            state = "40P01" if len(calls) == 1 else "40001"
            conn.exec_driver_sql(
                f"DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = '{state}'; END $$"
            )
        return 42

    assert await storage._write(flaky) == 42
    assert len(calls) == 3


async def test_an_unreachable_server_is_a_storage_error_naming_it() -> None:
    app = bb.Backburner("postgresql://postgres@127.0.0.1:1/test?connect_timeout=2")
    with pytest.raises(bb.StorageError, match=r"PostgreSQL at 127\.0\.0\.1:1/test: ") as caught:
        await app.open()
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    with pytest.raises(bb.StorageError, match="PostgreSQL at"):
        await app.ready()
    await app.close()


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u@h/db",
        "postgres://u:p@h:5433/db",
        "postgresql+psycopg://h/db?schema=bb_1",
    ],
)
def test_postgresql_urls_are_accepted(url: str) -> None:
    settings = bb.Settings.from_env({"BACKBURNER_DATABASE_URL": url})
    assert isinstance(create_storage(settings), PostgresStorage)


@pytest.mark.parametrize(
    ("url", "error", "match"),
    [
        ("postgresql+asyncpg://h/db", bb.UnsupportedDatabase, "unsupported scheme"),
        ("postgresql://h/db?schema=Bad-Name", bb.ConfigError, "schema='Bad-Name'"),
        ("postgresql://h/db?schema=", bb.ConfigError, "schema=''"),
        ("postgresql://h/db?schema=a&schema=b", bb.ConfigError, "must be one name"),
    ],
)
def test_bad_postgresql_urls_name_the_variable(url: str, error: type, match: str) -> None:
    with pytest.raises(error, match=match) as caught:
        bb.Settings.from_env({"BACKBURNER_DATABASE_URL": url})
    assert "BACKBURNER_DATABASE_URL" in str(caught.value)


async def test_a_wake_with_nobody_waiting_is_kept_for_the_next_waiter() -> None:
    waiters = Waiters()
    waiters.wake()  # a change announced between a caller's look and its wait
    started = time.monotonic()
    await waiters.wait(5.0)
    assert time.monotonic() - started < 1.0
    started = time.monotonic()
    await waiters.wait(0.2)  # kept for one waiter only
    assert time.monotonic() - started >= 0.15
    waited: list[float] = []

    def wait_elsewhere() -> None:  # a waiter on another event loop, in another thread
        began = time.monotonic()
        asyncio.run(waiters.wait(5.0))
        waited.append(time.monotonic() - began)

    thread = threading.Thread(target=wait_elsewhere)
    thread.start()
    for _ in range(100):
        await asyncio.sleep(0.01)
        if waiters._waiting:
            break
    waiters.wake()
    thread.join(timeout=10)
    assert waited and waited[0] < 2.0


@pytest.mark.sqlite_only
def test_a_test_marked_sqlite_only_gets_sqlite_alone(
    db_url: str, request: pytest.FixtureRequest
) -> None:
    assert db_url.startswith("sqlite:///")
    assert request.node.name.endswith("[sqlite]")


@pg
async def test_maintenance_runs_on_one_node_while_another_holds_its_locks(
    pg_url: str, app: bb.Backburner, nodes: list[Storage]
) -> None:
    from backburner.storage import postgres

    holder, other = await app.open(), nodes[0]
    assert isinstance(holder, PostgresStorage)
    lost = await app.submit("k", {})
    [claim] = await other.claim_jobs("w", [ClaimRequest(("k",), 1)], 0.05, 1)
    assert claim.job.id == lost.id
    overdue = await app.submit("k", {})
    run_sql(pg_url, "UPDATE jobs SET expire_at = expire_at - 1e6 WHERE id = :id", id=overdue.id)
    old = await app.cancel((await app.submit("k", {})).id)
    run_sql(pg_url, "UPDATE jobs SET finished_at = finished_at - 1e6 WHERE id = :id", id=old.id)
    await asyncio.sleep(0.2)  # the lease ran out
    key = postgres._MAINTENANCE_KEY.format(holder.schema)
    locked, release = threading.Event(), threading.Event()

    def mid_pass(conn: sa.Connection, _d: object) -> list[bool]:
        """A node in the middle of a pass: every duty's lock held until ``release``."""
        taken = [
            bool(
                conn.execute(
                    sa.text(postgres._MAINTENANCE_LOCK), {"key": key, "duty": duty}
                ).scalar()
            )
            for duty in postgres._MAINTENANCE_DUTIES
        ]
        locked.set()
        release.wait(10)
        return taken

    holding = asyncio.ensure_future(holder._write(mid_pass))
    try:
        assert await asyncio.to_thread(locked.wait, 10)
        report = await other.run_maintenance(retention_s=3600, limit=100)
        assert (report.reclaimed, report.expired, report.pruned) == (0, 0, 0)
        # (read on `other`: the holder's connections wait on its blocked transaction)
        assert [j.status for j in await other.get_jobs([lost.id, overdue.id, old.id])] == [
            S.RUNNING,
            S.QUEUED,
            S.CANCELED,
        ]
    finally:
        release.set()
    assert await holding == [True] * len(postgres._MAINTENANCE_DUTIES)
    report = await other.run_maintenance(retention_s=3600, limit=100)  # released: it runs
    assert (report.reclaimed, report.expired, report.pruned) == (1, 1, 1)
    jobs = await app.get_many([lost.id, overdue.id, old.id])
    assert [(j.id, j.status) for j in jobs] == [(lost.id, S.QUEUED), (overdue.id, S.FAILED)]


@pg
async def test_event_ids_are_drawn_in_commit_order(pg_url: str, app: bb.Backburner) -> None:
    """A transaction that logs events holds the events lock until it commits: another one's
    events wait for it, and get the higher ids."""
    first = await app.submit("k", {})
    url, schema = engine_url(pg_url)
    engine = sa.create_engine(url, connect_args={"options": f"-c search_path={schema}"})
    try:
        with engine.connect() as holder:
            holder.begin()
            PostgresDialect().insert_events(holder, [(first.id, 2, "message", {"m": "held"})])
            later = asyncio.ensure_future(app.submit("k", {}))
            done, _ = await asyncio.wait([later], timeout=0.5)
            assert not done  # its event waits for the open transaction
            holder.commit()
        second = await asyncio.wait_for(later, 10)
    finally:
        engine.dispose()
    ids = run_sql(pg_url, "SELECT job_id, seq, id FROM events ORDER BY id")
    assert [(r[0], r[1]) for r in ids] == [(first.id, 1), (first.id, 2), (second.id, 1)]


@pg
async def test_a_tail_after_the_last_id_misses_no_event_of_concurrent_writers(
    pg_url: str, nodes: list[Storage]
) -> None:
    """Four nodes submit at once while a fifth tails the events by id: it sees every event
    exactly once (ids drawn out of commit order would make it skip some)."""
    apps = [bb.Backburner(settings=bb.Settings(database_url=pg_url)) for _ in range(4)]
    for application in apps:
        application.task(name="k")(_noop)
    stop = asyncio.Event()
    seen: list[int] = []

    async def tail() -> None:
        after = 0
        while True:
            # Read the flag before the query: an empty read that began before the last
            # submit committed must not end the tail.
            submitted = stop.is_set()
            after, batch = await nodes[0].event_feed(after, 50)
            seen.extend(event_id for event_id, *_ in batch)
            if submitted and not batch:
                return

    async def submit(application: bb.Backburner) -> None:
        for _ in range(60):
            await application.submit("k", {})

    try:
        await apps[0].open()
        tailing = asyncio.create_task(tail())
        await asyncio.gather(*(submit(a) for a in apps for _ in range(3)))
        stop.set()
        await asyncio.wait_for(tailing, 30)
    finally:
        for application in apps:
            await application.close()
    every = [r[0] for r in run_sql(pg_url, "SELECT id FROM events ORDER BY id")]
    assert len(every) == 4 * 3 * 60
    assert seen == every


async def _noop(ctx: bb.Context, data: dict[str, Any]) -> None: ...
