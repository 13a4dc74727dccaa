"""Many nodes on one PostgreSQL: 3 `backburner worker` processes and 2 API-only
`backburner serve --no-worker` processes on one schema.

Jobs are submitted over HTTP through both API nodes while one worker is SIGKILLed and
PostgreSQL itself is restarted: every job succeeds, none is lost, no attempt runs on two
workers at once, and an SSE stream on node A follows the progress a worker reports for a job
submitted through node B.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import random
import signal
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

import backburner as bb
from tests.acceptance.conftest import (
    PATIENCE,
    WorkerProcess,
    Workers,
    worker_pid,
)
from tests.acceptance.multinode import (
    SLOW,
    ApiNode,
    Chaos,
    api_nodes,
    restart_command,
    restart_postgres,
    submit,
)
from tests.apps.acceptance_app import build_app, read_records
from tests.conftest import eventually, run_sql

logger = logging.getLogger(__name__)
pytestmark = [pytest.mark.slow, pytest.mark.postgresql, pytest.mark.timeout(600)]

#: Jobs submitted over HTTP, as the issue asks. On this shared 2-core machine submitting is
#: the slow part (each submit over HTTP with an Idempotency-Key): the whole test takes about
#: two minutes. ``BACKBURNER_TEST_MULTINODE_JOBS`` sets another size (e.g. 500 while working
#: on it).
JOBS = int(os.environ.get("BACKBURNER_TEST_MULTINODE_JOBS", "5000"))
#: Concurrent HTTP connections submitting, shared between the two API nodes.
SUBMITTERS = 8
#: Worker lease: short, so the SIGKILLed worker's jobs come back in seconds.
LEASE = "3s"
#: Milliseconds each job takes (half before its progress report, half after).
JOB_MS = (5, 50)


@pytest.fixture
def pg_restart() -> list[str]:
    """The command that restarts the PostgreSQL server under test (skips the test without)."""
    return restart_command()


@pytest.fixture
async def pg_app(pg_url: str) -> AsyncIterator[bb.Backburner]:
    """The acceptance app in the test's process, on the test's schema (migrated here)."""
    application = build_app(bb.Settings(database_url=pg_url))
    await application.open()
    yield application
    await application.close()


@pytest.fixture
def pg_workers(tmp_path: Path, pg_url: str) -> Iterator[Workers]:
    """Worker processes on the test's schema, all killed when the test ends."""
    started = Workers(tmp_path, pg_url)
    try:
        yield started
    finally:
        started.close()


@pytest.fixture
def nodes(tmp_path: Path, pg_url: str, pg_app: bb.Backburner) -> Iterator[list[ApiNode]]:
    """Two API-only nodes on the test's schema (migrated by `pg_app` first)."""
    with api_nodes(tmp_path, pg_url) as started:
        yield started


async def test_three_workers_two_api_nodes_survive_a_sigkill_and_a_postgres_restart(
    pg_restart: list[str],
    pg_app: bb.Backburner,
    pg_url: str,
    pg_workers: Workers,
    nodes: list[ApiNode],
    tmp_path: Path,
) -> None:
    log, gate = str(tmp_path / "runs.log"), tmp_path / "gate"
    auth = {"Authorization": f"Bearer {(await pg_app.create_api_key('alice'))[1]}"}
    for _ in range(3):
        pg_workers.start(lease=LEASE, concurrency=20)
    for worker in pg_workers.started:
        await worker.wait_log("worker started")
    a, b = nodes
    chaos = Chaos()
    chaos.mark("started")

    submitting = asyncio.create_task(_submit_all(nodes, auth, log, chaos))
    await _wait_succeeded(pg_url, JOBS // 5)
    victim = pg_workers.started[0]
    await _kill_holding_jobs(victim, pg_url, chaos)
    chaos.mark("killed")
    await _wait_succeeded(pg_url, 2 * JOBS // 5)
    await restart_postgres(pg_restart, nodes, chaos)
    chaos.mark("restarted")
    ids = await asyncio.wait_for(submitting, SLOW)
    chaos.mark("submitted")
    probe_id, frames = await _follow_probe(a, b, auth, log, gate)
    chaos.mark("probed")
    await _wait_drained(pg_url)
    chaos.mark("drained")
    survivors = pg_workers.started[1:]
    assert all(w.alive for w in survivors), [w.log()[-3000:] for w in survivors]
    assert all(n.proc.poll() is None for n in nodes)
    for worker in survivors:
        worker.send(signal.SIGTERM)
        assert await worker.wait_exit() == 0, worker.log()[-3000:]

    # The SSE stream on A saw the worker's progress for B's job, then its end.
    types = [t for t, _ in frames]
    assert "progress" in types and types[-1] == "status", frames
    assert frames[-1][1]["data"]["status"] == "succeeded"
    runner = next(d["data"]["worker"] for t, d in frames if d["data"].get("status") == "running")
    assert worker_pid(runner) in {w.pid for w in survivors}

    # None lost, all succeeded, no attempt on two workers at once.
    rows = run_sql(pg_url, "SELECT id, status, attempt FROM jobs")
    assert sorted(r.id for r in rows) == sorted([*ids, probe_id])
    assert Counter(r.status for r in rows) == {"succeeded": JOBS + 1}
    reasons = _check_attempts(pg_url, {r.id: r.attempt for r in rows})
    _check_no_overlap(read_records(log), reasons, chaos)
    assert all("lease_expired" in reasons[job_id] for job_id in chaos.held), chaos.held
    for node in nodes:
        seen = chaos.readyz[node.url]
        assert seen[503] and seen[200], f"{node.url} /readyz during the restart: {seen}"
    logger.info(
        f"{JOBS} jobs; phases {chaos.phases}; restart {chaos.restart_s:.1f}s; "
        f"readyz {dict(chaos.readyz)}; resubmits {dict(chaos.resubmits)}; "
        f"requeues {Counter(r for job in reasons.values() for r in job)}"
    )


# ── submitting over HTTP ──────────────────────────────────────────────────────
async def _submit_all(
    nodes: list[ApiNode], auth: dict[str, str], log: str, chaos: Chaos
) -> list[str]:
    """Submit `JOBS` jobs, alternating between the nodes, over `SUBMITTERS` connections."""
    rng = random.Random(4)
    ids: list[str] = [""] * JOBS
    bodies = [{"kind": "pulse", "input": {"ms": rng.randint(*JOB_MS), "log": log}} for _ in ids]
    indexes = iter(range(JOBS))  # shared: each index is taken by one submitter

    async def submitter() -> None:
        async with httpx.AsyncClient(timeout=30) as client:
            for i in indexes:
                url = nodes[i % len(nodes)].url
                ids[i] = await submit(client, url, auth, bodies[i], f"mn-{i}", chaos)

    await asyncio.gather(*(submitter() for _ in range(SUBMITTERS)))
    return ids


# ── watching state ────────────────────────────────────────────────────────────
async def _count(pg_url: str, sql: str, **params: object) -> int | None:
    """One count, read in a thread; ``None`` while the database does not answer."""
    try:
        rows = await asyncio.to_thread(run_sql, pg_url, sql, **params)
    except sa.exc.DBAPIError:
        return None
    return int(rows[0][0])


async def _wait_succeeded(pg_url: str, count: int) -> None:
    async def enough() -> bool:
        done = await _count(pg_url, "SELECT count(*) FROM jobs WHERE status = 'succeeded'")
        return done is not None and done >= count

    await eventually(enough, timeout=SLOW, interval=0.05)


async def _wait_drained(pg_url: str) -> None:
    async def drained() -> bool:
        active = "SELECT count(*) FROM jobs WHERE status IN ('queued', 'running')"
        return await _count(pg_url, active) == 0

    await eventually(drained, timeout=SLOW, interval=0.2)


async def _kill_holding_jobs(victim: WorkerProcess, pg_url: str, chaos: Chaos) -> None:
    """SIGKILL ``victim`` at a moment it holds running jobs: frozen first (SIGSTOP), so
    what the database says it holds cannot change before the kill."""
    sql = "SELECT id FROM jobs WHERE status = 'running' AND worker_id LIKE :w"
    for _ in range(500):
        victim.send(signal.SIGSTOP)
        await victim._wait_all_threads_stopped()
        held = await asyncio.to_thread(run_sql, pg_url, sql, w=f"%:{victim.pid}:%")
        if held:
            victim.kill()
            chaos.killed_pid, chaos.killed_at_ns = victim.pid, time.monotonic_ns()
            chaos.held = {row.id for row in held}
            return
        victim.send(signal.SIGCONT)
        await asyncio.sleep(0.05)
    raise AssertionError(f"worker {victim.pid} never held a job")


# ── SSE across nodes ──────────────────────────────────────────────────────────
async def _follow_probe(
    a: ApiNode, b: ApiNode, auth: dict[str, str], log: str, gate: Path
) -> tuple[str, list[tuple[str, dict[str, Any]]]]:
    """Submit a job through B that reports progress only once ``gate`` exists; follow it
    on A, opening the gate once the stream has begun: its progress can only reach A live.
    The probe's id and the ``(type, event)`` frames A sent."""
    body = {"kind": "pulse", "input": {"ms": 10, "log": log, "gate": str(gate)}}
    frames: list[tuple[str, dict[str, Any]]] = []
    async with httpx.AsyncClient(timeout=httpx.Timeout(10, read=PATIENCE)) as client:
        job_id = await submit(client, b.url, auth, body, "mn-probe", Chaos())
        url = f"{a.url}/v1/jobs/{job_id}/events"
        async with client.stream("GET", url, headers=auth) as response:
            assert response.status_code == 200, await response.aread()
            event_type = ""
            lines = response.aiter_lines()
            for _ in range(1000):
                line = await anext(lines, None)
                if line is None:
                    break
                if line.startswith("event: "):
                    event_type = line.removeprefix("event: ")
                elif line.startswith("data: "):
                    frames.append((event_type, json.loads(line.removeprefix("data: "))))
                    gate.touch()
                    data = frames[-1][1]["data"]
                    if event_type == "status" and data["status"] not in ("queued", "running"):
                        break
    return job_id, frames


# ── checking the evidence ─────────────────────────────────────────────────────
def _check_attempts(pg_url: str, attempts: dict[str, int]) -> dict[str, list[str]]:
    """Walk each job's status events: a claim (``running``) only ever follows the end of the
    previous attempt (a requeue or the submit), and attempt numbers count up by one — except
    after a ``released`` requeue (the database went away under the handler), which gives the
    attempt back, so the next claim runs the same number; the job's ``attempt`` is the last
    one claimed. Each job's requeue reasons, in order."""
    sql = "SELECT job_id, data FROM events WHERE type = 'status' ORDER BY job_id, seq"
    by_job: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in run_sql(pg_url, sql):
        by_job[row.job_id].append(row.data)
    requeues: dict[str, list[str]] = {}
    for job_id, events in by_job.items():
        claimed, running, given_back = 0, False, False
        requeues[job_id] = []
        for e in events:
            if e["status"] == "running":
                expected = claimed if given_back else claimed + 1
                assert not running and e["attempt"] == expected, (job_id, events)
                claimed, running, given_back = e["attempt"], True, False
            else:
                assert e["status"] in ("queued", "succeeded"), (job_id, events)
                running, given_back = False, e.get("reason") == "released"
                if e.get("reason") not in (None, "submitted"):
                    requeues[job_id].append(e["reason"])
        assert events[-1]["status"] == "succeeded" and claimed == attempts[job_id], events
    reasons = {reason for job in requeues.values() for reason in job}
    assert reasons <= {"lease_expired", "retrying", "released"}, reasons
    return requeues


def _check_no_overlap(
    records: list[list[str]], requeues: dict[str, list[str]], chaos: Chaos
) -> None:
    """The handlers' own log: no two attempts of a job ran at the same time, except a
    reclaimed attempt still winding down on a live worker (fenced: its writes fail)."""
    runs: dict[tuple[str, int, str], list[int]] = {}
    for job_id, what, pid_text, attempt, ns in records:
        span = runs.setdefault((job_id, int(pid_text), attempt), [int(ns), 0])
        if what != "start":
            span[1] = int(ns)
    by_job: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
    for (job_id, pid, _), (start, end) in runs.items():
        if not end:  # its worker was SIGKILLed mid-attempt
            assert pid == chaos.killed_pid, (job_id, pid)
            end = chaos.killed_at_ns
        by_job[job_id].append((start, end, pid))
    for job_id, spans in by_job.items():
        spans.sort()
        if any(x[1] > y[0] for x, y in itertools.pairwise(spans)):
            assert "lease_expired" in requeues[job_id], (job_id, spans)
