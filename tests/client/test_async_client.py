"""`AsyncClient` against the API in-process (httpx.ASGITransport)."""

from __future__ import annotations

import asyncio
import time

import pytest

import backburner as bb
from backburner.errors import Forbidden, Unauthorized
from tests.client.conftest import Clients


async def test_submit_get_list_get_many_and_kinds(clients: Clients) -> None:
    one = await clients.alice.submit("story", {"prompt": "one"}, scope="novel:1")
    two = await clients.alice.submit("story", {"prompt": "two"}, scope="novel:2", priority=5)
    assert (one.owner, one.status, one.scope) == ("alice", bb.JobStatus.QUEUED, "novel:1")
    assert (await clients.alice.get(two.id)).priority == 5
    assert [j.id for j in (await clients.alice.list(scope="novel:1")).jobs] == [one.id]
    page = await clients.alice.list(status=["queued", bb.JobStatus.RUNNING], active=True, limit=1)
    assert [j.id for j in page.jobs] == [two.id] and page.next_cursor is not None
    rest = await clients.alice.list(cursor=page.next_cursor)
    assert [j.id for j in rest.jobs] == [one.id] and rest.next_cursor is None
    found = await clients.alice.get_many([one.id, "no-such-job", two.id])
    assert {j.id for j in found} == {one.id, two.id}
    assert await clients.bob.get_many([one.id]) == []
    assert "story" in {kind["name"] for kind in await clients.alice.kinds()}


async def test_submit_with_wait_and_idempotency_key(app: bb.Backburner, clients: Clients) -> None:
    async with app.worker():
        done = await clients.alice.submit("story", {"prompt": "a dog"}, wait=10)
    assert done.status == bb.JobStatus.SUCCEEDED and done.output == {"text": "A DOG"}
    first = await clients.alice.submit("story", {"prompt": "xyz"}, idempotency_key="req-1")
    again = await clients.alice.submit("story", {"prompt": "xyz"}, idempotency_key="req-1")
    assert again.id == first.id and again.deduplicated and not first.deduplicated


async def test_wait_reports_progress_and_the_finished_job(
    app: bb.Backburner, clients: Clients, gate: asyncio.Event
) -> None:
    job = await clients.alice.submit("gated", {})
    seen: list[bb.Job] = []

    def on_change(changed: bb.Job) -> None:
        seen.append(changed)
        if changed.progress == 0.5:
            gate.set()  # the handler finishes only once its progress was reported

    async with app.worker():
        finished = await clients.alice.wait(job.id, timeout=20, on_change=on_change)
    assert finished.status == bb.JobStatus.SUCCEEDED and finished.output == "done"
    assert seen[0].active and seen[-1] == finished  # the first state seen, then changes
    halfway = next(j for j in seen if j.progress == 0.5)
    assert (halfway.status, halfway.message) == (bb.JobStatus.RUNNING, "Halfway")


async def test_wait_that_runs_out_raises_job_timeout(clients: Clients) -> None:
    job = await clients.alice.submit("story", {"prompt": "never run"})  # no worker
    started = time.monotonic()
    with pytest.raises(bb.JobTimeout, match=job.id):
        await clients.alice.wait(job.id, timeout=1.5)
    assert 1 <= time.monotonic() - started < 1.5 + 1  # never much past the deadline


async def test_cancel_retry_delete(clients: Clients) -> None:
    job = await clients.alice.submit("story", {"prompt": "bye"})
    assert (await clients.alice.cancel(job.id)).status == bb.JobStatus.CANCELED
    retried = await clients.alice.retry(job.id)
    assert (retried.id, retried.status) == (job.id, bb.JobStatus.QUEUED)
    assert await clients.alice.delete(job.id) is None
    with pytest.raises(bb.JobNotFound):
        await clients.alice.get(job.id)


async def test_problems_become_the_library_errors(clients: Clients) -> None:
    with pytest.raises(bb.InvalidInput, match="unknown kind 'nope'"):
        await clients.alice.submit("nope", {})
    with pytest.raises(bb.InputValidationError) as invalid:
        await clients.alice.submit("story", {"prompt": "x"})
    assert [e["field"] for e in invalid.value.errors] == ["prompt"]
    assert invalid.value.errors[0]["loc"] == ("prompt",)
    job = await clients.alice.submit("story", {"prompt": "mine"})
    with pytest.raises(bb.JobNotFound):
        await clients.bob.get(job.id)  # another owner's job: as if missing
    with pytest.raises(bb.JobNotFound):
        await clients.bob.cancel(job.id)
    await clients.alice.cancel(job.id)
    with pytest.raises(bb.InvalidTransition, match="already canceled"):
        await clients.alice.cancel(job.id)
    with pytest.raises(Unauthorized) as unauthorized:
        await clients.nobody.list()
    assert unauthorized.value.status == 401 and isinstance(unauthorized.value, bb.BackburnerError)
    with pytest.raises(Forbidden):
        await clients.alice.list(owner="bob")
