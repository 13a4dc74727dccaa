"""Every lifecycle transition, in-process: a real SQLite file and a real worker."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

import backburner as bb
from tests.conftest import eventually, wait_status

S = bb.JobStatus


class Out(BaseModel):
    value: int


async def statuses(app: bb.Backburner, job_id: str) -> list[str]:
    return [e.data["status"] for e in await app.events(job_id) if e.type == "status"]


async def test_queued_running_succeeded_with_progress_partial_and_events(
    app: bb.Backburner,
) -> None:
    @app.task
    async def double(ctx: bb.Context, n: int) -> Out:
        await ctx.progress(0.5, "halfway")
        await ctx.partial("half", {"n": n})
        return Out(value=n * 2)

    job = await app.submit("double", 21, owner="alice", scope="novel:1")
    assert job.status is S.QUEUED and job.attempt == 0 and not job.slow
    async with app.worker():
        done = await app.wait(job.id, timeout=10)
    assert done.status is S.SUCCEEDED
    assert done.output == {"value": 42}
    assert (done.progress, done.message, done.partial) == (1.0, "halfway", {"half": {"n": 21}})
    assert done.started_at and done.finished_at and done.finished_at >= done.started_at
    events = await app.events(job.id)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert [e.type for e in events] == ["status", "status", "progress", "partial", "status"]
    assert await statuses(app, job.id) == ["queued", "running", "succeeded"]


async def test_retryable_error_requeues_then_fails_with_type_and_message(
    app: bb.Backburner,
) -> None:
    @app.task(attempts=3, backoff=bb.RetryPolicy(base_s=0.05, jitter=0))
    async def flaky(ctx: bb.Context, data: dict[str, Any]) -> None:
        raise ConnectionError(f"provider down on attempt {ctx.attempt}")

    job = await app.submit("flaky", {})
    async with app.worker():
        done = await app.wait(job.id, timeout=15)
    assert done.status is S.FAILED and done.attempt == 3
    assert done.error == bb.JobError(
        type=bb.ErrorType.HANDLER_ERROR, message="ConnectionError: provider down on attempt 3"
    )
    assert await statuses(app, job.id) == [
        "queued", "running", "queued", "running", "queued", "running", "failed",
    ]  # fmt: skip


async def test_recovers_on_a_later_attempt(app: bb.Backburner) -> None:
    @app.task(attempts=3, backoff="0.05s")
    async def second_time(ctx: bb.Context, data: dict[str, Any]) -> int:
        if ctx.attempt == 1:
            raise bb.Retry(after=0.05, reason="503 from provider")
        return ctx.attempt

    job = await app.submit("second_time", {})
    async with app.worker():
        done = await app.wait(job.id, timeout=10)
    assert (done.status, done.output, done.attempt, done.error) == (S.SUCCEEDED, 2, 2, None)
    events = await app.events(job.id)
    retry_event = next(e for e in events if e.data.get("reason") == "retrying")
    assert retry_event.data["error"]["message"] == "503 from provider"


async def test_fail_is_final_and_keeps_its_reason(app: bb.Backburner) -> None:
    @app.task(attempts=5)
    async def refuse(ctx: bb.Context, data: dict[str, Any]) -> None:
        raise bb.Fail("the script has no scenes")

    job = await app.submit("refuse", {})
    async with app.worker():
        done = await app.wait(job.id, timeout=10)
    assert (done.status, done.attempt) == (S.FAILED, 1)
    assert done.error is not None and done.error.message == "the script has no scenes"


async def test_invalid_output_is_its_own_error_type(app: bb.Backburner) -> None:
    @app.task(attempts=1)
    async def sloppy(ctx: bb.Context, data: dict[str, Any]) -> Out:
        return {"value": "not a number"}  # type: ignore[return-value]

    job = await app.submit("sloppy", {})
    async with app.worker():
        done = await app.wait(job.id, timeout=10)
    assert done.error is not None and done.error.type is bb.ErrorType.INVALID_OUTPUT
    assert "value" in done.error.message


async def test_timeout_stops_a_cooperative_handler(app: bb.Backburner) -> None:
    @app.task(timeout="0.3s", attempts=2, backoff="0.05s")
    async def slow(ctx: bb.Context, data: dict[str, Any]) -> None:
        await asyncio.sleep(30)

    job = await app.submit("slow", {})
    async with app.worker():
        done = await app.wait(job.id, timeout=10)
    assert (done.status, done.attempt) == (S.FAILED, 2)
    assert done.error is not None and done.error.type is bb.ErrorType.TIMEOUT
    assert "0.3s" in done.error.message


async def test_blocking_async_handler_is_interrupted_in_process(app: bb.Backburner) -> None:
    @app.task(timeout="0.5s", attempts=1)
    async def spins(ctx: bb.Context, data: dict[str, Any]) -> None:
        while True:  # pure Python, never yields to the loop
            pass

    job = await app.submit("spins", {})
    async with app.worker():
        done = await app.wait(job.id, timeout=15)
    assert done.error is not None and done.error.type is bb.ErrorType.TIMEOUT


async def test_running_job_past_expiry_fails_expired(app: bb.Backburner) -> None:
    @app.task(expire_after="0.5s")
    async def endless(ctx: bb.Context, data: dict[str, Any]) -> None:
        await asyncio.sleep(30)

    job = await app.submit("endless", {})
    async with app.worker():
        done = await app.wait(job.id, timeout=10)
    assert done.error is not None and done.error.type is bb.ErrorType.EXPIRED


async def test_queued_job_past_expiry_is_failed_by_maintenance(app: bb.Backburner) -> None:
    @app.task(expire_after="0.2s")
    async def never_claimed(ctx: bb.Context, data: dict[str, Any]) -> None: ...

    job = await app.submit("never_claimed", {})
    await asyncio.sleep(0.3)  # let it age past expire_after; nothing runs it meanwhile
    from backburner.worker.maintenance import run_maintenance

    report = await run_maintenance(await app.open(), app.settings)
    assert report.expired == 1
    done = await app.get(job.id)
    assert (done.status, done.error and done.error.type) == (S.FAILED, bb.ErrorType.EXPIRED)


async def test_cancel_queued_is_immediate(app: bb.Backburner) -> None:
    @app.task
    async def idle(ctx: bb.Context, data: dict[str, Any]) -> None: ...

    job = await app.submit("idle", {})
    canceled = await app.cancel(job.id)
    assert canceled.status is S.CANCELED and canceled.finished_at is not None
    with pytest.raises(bb.InvalidTransition, match="already canceled"):
        await app.cancel(job.id)


async def test_cancel_running_reaches_the_handler(app: bb.Backburner) -> None:
    started, stopped = asyncio.Event(), asyncio.Event()

    @app.task
    async def long(ctx: bb.Context, data: dict[str, Any]) -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            stopped.set()
            raise

    job = await app.submit("long", {})
    async with app.worker():
        await asyncio.wait_for(started.wait(), 10)
        flagged = await app.cancel(job.id)
        assert flagged.status is S.RUNNING and flagged.cancel_requested
        done = await app.wait(job.id, timeout=10)  # within a heartbeat (lease 2s / 3)
    assert done.status is S.CANCELED and stopped.is_set()
    types = [e.type for e in await app.events(job.id)]
    assert "cancel_requested" in types


async def test_a_cancel_stops_a_running_job_within_seconds_whatever_the_lease(
    tmp_path: Path,
) -> None:
    app = bb.Backburner(settings=bb.Settings(database_url=f"sqlite:///{tmp_path / 'c.db'}"))
    started = asyncio.Event()

    @app.task
    async def long(ctx: bb.Context, data: dict[str, Any]) -> None:
        started.set()
        await asyncio.sleep(60)

    job = await app.submit("long", {})
    async with app.worker():  # the default 30 s lease: a heartbeat only every 10 s
        await asyncio.wait_for(started.wait(), 10)
        await app.cancel(job.id)
        asked = time.monotonic()
        done = await app.wait(job.id, timeout=20)
        took = time.monotonic() - asked
    assert done.status is S.CANCELED
    assert took < 8, f"the cancel took {took:.1f}s: it waited for the 10 s heartbeat"
    await app.close()


async def test_a_database_outage_under_the_handler_does_not_spend_an_attempt(
    app: bb.Backburner,
) -> None:
    calls: list[int] = []

    @app.task(attempts=1)
    async def fragile(ctx: bb.Context, data: dict[str, Any]) -> int:
        calls.append(ctx.attempt)
        if len(calls) == 1:  # as ctx.progress raises while the database restarts
            raise bb.StorageError("PostgreSQL at db:5432: the database system is shutting down")
        return len(calls)

    job = await app.submit("fragile", {})
    async with app.worker():
        done = await app.wait(job.id, timeout=10)
    assert done.status is S.SUCCEEDED and done.output == 2
    assert calls == [1, 1]  # the same attempt, run again
    reasons = [e.data.get("reason") for e in await app.events(job.id) if e.type == "status"]
    assert "released" in reasons and "retrying" not in reasons


async def test_manual_retry_requeues_the_same_row_with_its_input(app: bb.Backburner) -> None:
    seen: list[dict[str, Any]] = []

    @app.task(attempts=1)
    async def once_bad(ctx: bb.Context, data: dict[str, Any]) -> str:
        seen.append(data)
        if len(seen) == 1:
            raise RuntimeError("first run fails")
        return "ok"

    job = await app.submit("once_bad", {"entry": "dear diary"})
    async with app.worker():
        failed = await app.wait(job.id, timeout=10)
        assert failed.status is S.FAILED
        again = await app.retry(job.id)
        assert (again.id, again.status, again.attempt, again.error) == (job.id, S.QUEUED, 0, None)
        done = await app.wait(job.id, timeout=10)
    assert (done.status, done.output, done.attempt) == (S.SUCCEEDED, "ok", 1)
    assert seen == [{"entry": "dear diary"}] * 2
    assert (await statuses(app, job.id))[-3:] == ["queued", "running", "succeeded"]


async def test_retry_and_cancel_refuse_states_that_do_not_allow_them(app: bb.Backburner) -> None:
    @app.task
    async def quick(ctx: bb.Context, data: dict[str, Any]) -> None: ...

    job = await app.submit("quick", {})
    with pytest.raises(bb.InvalidTransition, match="queued"):
        await app.retry(job.id)
    async with app.worker():
        await app.wait(job.id, timeout=10)
    with pytest.raises(bb.InvalidTransition, match="succeeded"):
        await app.retry(job.id)
    with pytest.raises(bb.InvalidTransition, match="succeeded"):
        await app.cancel(job.id)
    for call in (app.get, app.cancel, app.retry, app.delete):
        with pytest.raises(bb.JobNotFound, match="nope"):
            await call("nope")


async def test_delete_removes_job_events_and_steps(app: bb.Backburner) -> None:
    @app.task
    async def stepper(ctx: bb.Context, data: dict[str, Any]) -> int:
        return int(await ctx.step("one", lambda: 1))

    job = await app.submit("stepper", {})
    async with app.worker():
        await app.wait(job.id, timeout=10)
    storage = await app.open()
    assert await storage.load_steps(job.id) == {"one": 1}
    await app.delete(job.id)
    with pytest.raises(bb.JobNotFound):
        await app.get(job.id)
    assert await app.events(job.id) == []
    assert await storage.load_steps(job.id) == {}


async def test_delete_of_a_running_job_stops_its_handler(app: bb.Backburner) -> None:
    started, stopped = asyncio.Event(), asyncio.Event()

    @app.task
    async def busy(ctx: bb.Context, data: dict[str, Any]) -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        finally:
            stopped.set()

    job = await app.submit("busy", {})
    async with app.worker():
        await asyncio.wait_for(started.wait(), 10)
        await app.delete(job.id)
        await asyncio.wait_for(stopped.wait(), 10)


async def test_steps_return_stored_results_on_a_later_attempt(app: bb.Backburner) -> None:
    calls: list[str] = []

    def render(scene: int) -> dict[str, Any]:
        calls.append(f"scene-{scene}")
        return {"scene": scene, "url": f"https://clips/{scene}.mp4"}

    @app.task(attempts=2, backoff="0.05s")
    async def video(ctx: bb.Context, scenes: int) -> list[Any]:
        clips = [await ctx.step(f"scene-{i}", render, i) for i in range(1, scenes + 1)]
        if ctx.attempt == 1:
            raise RuntimeError("the provider dropped the connection")
        return clips

    job = await app.submit("video", 3)
    async with app.worker():
        done = await app.wait(job.id, timeout=10)
    assert done.status is S.SUCCEEDED and done.attempt == 2
    assert calls == ["scene-1", "scene-2", "scene-3"]  # not re-run on attempt 2
    assert done.output[1] == {"scene": 2, "url": "https://clips/2.mp4"}


async def test_sync_handler_runs_in_a_thread_with_a_sync_context(app: bb.Backburner) -> None:
    @app.task
    def blocking(ctx: bb.SyncContext, data: dict[str, Any]) -> dict[str, Any]:
        import time

        ctx.progress(None, "thinking")
        time.sleep(0.05)
        value = ctx.step("s", lambda: 5)
        ctx.partial("draft", "…")
        return {"value": value, "attempt": ctx.attempt}

    job = await app.submit("blocking", {})
    async with app.worker():
        done = await app.wait(job.id, timeout=10)
    assert done.output == {"value": 5, "attempt": 1}
    assert done.partial == {"draft": "…"} and done.message == "thinking"


async def test_progress_must_be_a_fraction(app: bb.Backburner) -> None:
    @app.task(attempts=1)
    async def bad_progress(ctx: bb.Context, data: dict[str, Any]) -> None:
        await ctx.progress(42, "too much")

    job = await app.submit("bad_progress", {})
    async with app.worker():
        done = await app.wait(job.id, timeout=10)
    assert done.error is not None and "between 0 and 1" in done.error.message


async def test_per_kind_concurrency_limits_running_jobs(app: bb.Backburner) -> None:
    running, peak = 0, 0

    @app.task(concurrency=2)
    async def video_gen(ctx: bb.Context, data: int) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.05)
        running -= 1

    jobs = [await app.submit("video_gen", i) for i in range(8)]
    async with app.worker(concurrency=10):
        for job in jobs:
            await app.wait(job.id, timeout=20)
    assert peak == 2


async def test_a_slot_frees_when_the_handler_returns_not_when_its_outcome_is_written(
    app: bb.Backburner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The next job starts while the last one's outcome is being written; outcomes waiting
    beyond ``concurrency`` take slots again, so a stuck database stops the claiming."""
    started: list[int] = []

    @app.task
    async def quick(ctx: bb.Context, n: int) -> None:
        started.append(n)

    storage = await app.open()
    release = asyncio.Event()
    finish_jobs = storage.finish_jobs

    async def slow_finish(outcomes: list[Any]) -> list[bool]:
        await release.wait()
        return await finish_jobs(outcomes)

    monkeypatch.setattr(storage, "finish_jobs", slow_finish)
    jobs = [await app.submit("quick", i) for i in range(4)]
    async with app.worker(concurrency=1):

        async def two_started() -> bool:
            return len(started) == 2

        await eventually(two_started)
        await asyncio.sleep(0.3)
        assert started == [0, 1]  # one handler at a time, and no third while two wait
        release.set()
        for job in jobs:
            assert (await app.wait(job.id, timeout=10)).status is S.SUCCEEDED
    assert started == [0, 1, 2, 3]


async def test_priority_runs_first(app: bb.Backburner) -> None:
    order: list[int] = []

    @app.task
    async def ranked(ctx: bb.Context, n: int) -> None:
        order.append(n)

    low = [await app.submit("ranked", n) for n in range(3)]
    high = await app.submit("ranked", 99, priority=10)
    async with app.worker(concurrency=1):
        for job in [*low, high]:
            await app.wait(job.id, timeout=10)
    assert order == [99, 0, 1, 2]


async def test_burst_worker_exits_when_idle(app: bb.Backburner) -> None:
    @app.task
    async def tiny(ctx: bb.Context, n: int) -> int:
        return n

    jobs = [await app.submit("tiny", n) for n in range(20)]
    await asyncio.wait_for(app.worker(burst=True).run(), 20)
    finished = await app.get_many([j.id for j in jobs])
    assert [j.status for j in finished] == [S.SUCCEEDED] * 20


async def test_slow_is_derived_from_age(app: bb.Backburner) -> None:
    @app.task(slow_after="0.1s")
    async def glacial(ctx: bb.Context, data: dict[str, Any]) -> None: ...

    job = await app.submit("glacial", {})
    assert not job.slow

    async def is_slow() -> bool:
        return (await app.get(job.id)).slow

    await eventually(is_slow, timeout=5)
    assert (await app.cancel(job.id)).slow is False  # finished jobs are never slow


async def test_wait_times_out_with_a_clear_error(app: bb.Backburner) -> None:
    @app.task
    async def unclaimed(ctx: bb.Context, data: dict[str, Any]) -> None: ...

    job = await app.submit("unclaimed", {})
    with pytest.raises(bb.JobTimeout, match="still queued"):
        await app.wait(job.id, timeout=0.2)
    await wait_status(app, job.id, S.QUEUED)


async def test_a_running_worker_prunes_finished_jobs_past_retention(db_url: str) -> None:
    settings = bb.Settings(database_url=db_url, retention_s=0.3, maintenance_every_s=0.1)
    app = bb.Backburner(settings=settings)

    @app.task
    async def short_lived(ctx: bb.Context, n: int) -> int:
        return n

    done = await app.submit("short_lived", 1)
    waiting = await app.submit("short_lived", 2)
    await app.cancel(waiting.id)

    async def pruned() -> bool:
        remaining = {j.id for j in (await app.list()).jobs}
        return done.id not in remaining and waiting.id not in remaining

    async with app.worker(concurrency=1):
        await eventually(pruned, timeout=10)
    assert await app.events(done.id) == []  # events went with the job
    await app.close()


async def test_a_retry_starts_when_its_backoff_ends_not_at_the_next_idle_recheck(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from backburner.worker import worker as worker_module

    # Nothing else wakes the idle worker: no recheck, and heartbeats (lease/3) too far apart.
    monkeypatch.setattr(worker_module, "_IDLE_RECHECK_S", 60.0)
    settings = bb.Settings(database_url=db_url, lease_s=120, artifacts_dir=str(tmp_path))
    app = bb.Backburner(settings=settings)

    @app.task(attempts=3)
    async def flaky(ctx: bb.Context, data: dict[str, Any]) -> int:
        if ctx.attempt < 3:
            raise bb.Retry(after=0.2)
        return ctx.attempt

    job = await app.submit("flaky", {})
    async with app.worker(concurrency=1):
        done = await app.wait(job.id, timeout=20)
    await app.close()
    assert (done.status, done.output) == (S.SUCCEEDED, 3)
