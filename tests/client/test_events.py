"""Following a job's events from the clients: the SSE parser, the async and sync clients."""

from __future__ import annotations

import pytest

import backburner as bb
from backburner.client.base import SseParser, is_final
from tests.client.conftest import Clients


def test_the_parser_turns_frames_into_events_and_skips_pings() -> None:
    parser = SseParser()
    payload = (
        '{"job_id": "j", "seq": 3, "type": "progress", "data": {"progress": 0.5},'
        ' "created_at": "2026-01-01T00:00:00Z"}'
    )
    lines = [": ping", "", "id: 3", "event: progress", f"data: {payload}", ""]
    got = [e for line in lines if (e := parser.feed(line)) is not None]
    assert [(e.seq, e.type, e.data) for e in got] == [(3, "progress", {"progress": 0.5})]
    assert not is_final(got[0])


async def test_async_client_follows_a_job_to_its_end(app: bb.Backburner, clients: Clients) -> None:
    job = await clients.alice.submit("story", {"prompt": "a whale"})
    async with app.worker():
        events = [e async for e in clients.alice.events(job.id)]
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert [e.data.get("status") for e in events if e.type == "status"] == [
        "queued", "running", "succeeded",
    ]  # fmt: skip
    assert is_final(events[-1])
    later = [e async for e in clients.alice.events(job.id, after=events[-2].seq)]
    assert [e.seq for e in later] == [events[-1].seq]
    assert [e async for e in clients.alice.events(job.id, after=events[-1].seq)] == []  # 204


async def test_async_client_events_of_another_owners_job(clients: Clients) -> None:
    job = await clients.alice.submit("story", {"prompt": "mine only"})
    with pytest.raises(bb.JobNotFound):
        [e async for e in clients.bob.events(job.id)]


@pytest.mark.slow
def test_sync_client_follows_a_job_on_a_real_server(server: tuple[str, str]) -> None:
    url, key = server
    with bb.Client(url, key) as client:
        job = client.submit("chapter", {"entry": "events please", "seconds": 0.5})
        types = [e.type for e in client.events(job.id)]
    assert types[0] == "status" and "progress" in types and types[-1] == "status"
