"""Plain submits queued together are inserted together on SQLite (`insert_sql.insert_plain_jobs`),
and each caller still gets exactly what a submit of its own would give: its job as a read of
its row gives it, its first event, its own error."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError

import backburner as bb
from backburner.ids import new_job_id
from backburner.jobs import Webhook
from backburner.storage import insert_sql
from backburner.storage.records import NewJob
from backburner.storage.sqlite import SqliteStorage


def _new(**changes: Any) -> NewJob:
    values: dict[str, Any] = {
        "id": new_job_id(),
        "kind": "k",
        "owner": "alice",
        "scope": None,
        "input": {"n": 1},
        "dedupe_key": None,
        "priority": 0,
        "cost": 0.0,
        "max_attempts": 1,
        "slow_after_s": 300.0,
        "expire_after_s": 3600.0,
    }
    return NewJob(**(values | changes))


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[SqliteStorage]:
    store = SqliteStorage(bb.Settings(database_url=f"sqlite:///{tmp_path / 'c.db'}"))
    await store.open()
    yield store
    await store.close()


@pytest.fixture
def batch_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of each call of the batch form (whether it then succeeded or not)."""
    sizes: list[int] = []
    real = insert_sql.insert_plain_jobs

    def counted(conn: Any, d: Any, batch: list[tuple[NewJob]]) -> list[bb.Job]:
        sizes.append(len(batch))
        return real(conn, d, batch)

    monkeypatch.setattr(insert_sql, "insert_plain_jobs", counted)
    return sizes


async def _together(storage: SqliteStorage, news: list[NewJob]) -> list[bb.Job | BaseException]:
    """Submit ``news`` so that all of them wait in one queue for the writer: it is held
    busy until every write is queued, then they run as one group commit.

    The hold must be running before the first submit: the writer thread may still be in the
    drain loop of an earlier batch, which would take the new writes one by one as they come.
    """
    running, gate = threading.Event(), threading.Event()

    def hold() -> None:
        running.set()
        gate.wait(timeout=60)

    held = storage._writer.run_alone(hold)
    tasks: list[asyncio.Future[bb.Job]] = []
    try:
        await _until(running.is_set, "the writer to take the hold")
        tasks = [asyncio.ensure_future(storage.insert_job(new)) for new in news]
        await _until(lambda: len(storage._writer._queue) >= len(news), "the writes to queue")
    finally:
        gate.set()
    await asyncio.wrap_future(held)
    return list(await asyncio.gather(*tasks, return_exceptions=True))


async def _until(condition: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        await asyncio.sleep(0.001)


def test_only_submits_without_keys_or_cost_are_coalescible() -> None:
    assert insert_sql.coalescible(_new())
    assert insert_sql.coalescible(_new(scope="s", priority=5, webhook=Webhook(url="http://h/")))
    assert not insert_sql.coalescible(_new(dedupe_key="d"))
    assert not insert_sql.coalescible(_new(idempotency_key="i"))
    assert not insert_sql.coalescible(_new(cost=1.5))
    assert insert_sql.coalescible(_new(submit_rate=(5, 60.0)))  # counted per owner, together


async def test_coalesced_jobs_equal_a_fresh_read_with_their_first_event(
    storage: SqliteStorage, batch_calls: list[int]
) -> None:
    news = [
        _new(),
        _new(input=None),
        _new(owner="bob", scope="novel:1", priority=3, max_attempts=4),
        _new(input={"text": "ünï", "nested": {"b": [1, 2.5, None], "a": True}}),
        _new(webhook=Webhook(url="http://127.0.0.1:9/hook")),
    ]
    jobs = await _together(storage, news)
    assert batch_calls == [len(news)]  # one insert for all of them
    for new, job in zip(news, jobs, strict=True):
        assert isinstance(job, bb.Job)
        read = await storage.get_job(new.id)
        assert read is not None
        assert job == read
        assert job.model_dump(mode="json") == read.model_dump(mode="json")
        [event] = await storage.list_events(new.id)
        first = {"status": "queued", "reason": "submitted"}
        assert (event.seq, event.type, event.data) == (1, "status", first)
    # The webhook's outbox is written as a submit of its own writes it.
    alone = _new(webhook=Webhook(url="http://127.0.0.1:9/hook"))
    await storage.insert_job(alone)
    coalesced = await storage.list_webhook_deliveries(news[-1].id)
    single = await storage.list_webhook_deliveries(alone.id)
    assert [(d.type, d.url) for d in coalesced] == [(d.type, d.url) for d in single]


async def test_a_failing_submit_fails_alone_and_the_others_are_committed(
    storage: SqliteStorage, batch_calls: list[int]
) -> None:
    taken = _new()
    await storage.insert_job(taken)
    news = [_new(), _new(), _new(id=taken.id, input={"dup": True}), _new(), _new()]
    results = await _together(storage, news)
    assert batch_calls == [len(news)]  # tried together, then each on its own
    assert isinstance(results[2], IntegrityError)
    for i in (0, 1, 3, 4):
        job = results[i]
        assert isinstance(job, bb.Job)
        assert await storage.get_job(job.id) == job
        assert len(await storage.list_events(job.id)) == 1
    original = await storage.get_job(taken.id)
    assert original is not None and original.input == {"n": 1}
    assert len(await storage.list_events(taken.id)) == 1


async def test_a_batch_over_an_owners_rate_lets_exactly_the_rest_through(
    storage: SqliteStorage, batch_calls: list[int]
) -> None:
    rate = (5, 3600.0)
    await storage.insert_job(_new(submit_rate=rate))  # one of alice's five spent
    news = [_new(submit_rate=rate) for _ in range(6)] + [_new(owner="bob", submit_rate=rate)]
    results = await _together(storage, news)
    assert batch_calls == [len(news)]  # tried together (alice's 6 do not fit), then alone
    assert [type(r).__name__ for r in results] == ["Job"] * 4 + ["RateLimited"] * 2 + ["Job"]
    refused = results[4]
    assert isinstance(refused, bb.RateLimited) and 710 < refused.retry_after_s <= 720
    for new, result in zip(news, results, strict=True):
        assert (await storage.get_job(new.id) is not None) == isinstance(result, bb.Job)
    fitting = [_new(owner="carol", submit_rate=rate) for _ in range(5)]
    assert all(isinstance(r, bb.Job) for r in await _together(storage, fitting))
    assert batch_calls[-1] == 5  # five fit at once: one insert


async def test_other_writes_split_the_run_and_keep_their_place(
    storage: SqliteStorage, batch_calls: list[int]
) -> None:
    news = [_new(), _new(), _new(dedupe_key="d"), _new(dedupe_key="d"), _new(), _new(), _new()]
    results = await _together(storage, news)
    assert batch_calls == [2, 3]  # the runs before and after the deduplicated submits
    jobs = [r for r in results if isinstance(r, bb.Job)]
    assert len(jobs) == len(news)
    expected = [n.id for n in news[:3]] + [news[2].id] + [n.id for n in news[4:]]
    assert [j.id for j in jobs] == expected
    assert jobs[3].deduplicated
    for job in jobs:
        assert await storage.get_job(job.id) is not None
