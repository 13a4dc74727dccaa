"""`Storage.event_feed`: every job's events after an id, with owner and scope, in id order."""

from __future__ import annotations

import backburner as bb


async def test_the_feed_pages_through_every_event_with_its_owner_and_scope(
    app: bb.Backburner,
) -> None:
    @app.task
    async def echo(ctx: bb.Context, data: dict[str, str]) -> None: ...

    storage = await app.open()
    start, nothing = await storage.event_feed(None)
    assert nothing == []
    first = await app.submit("echo", {}, owner="alice", scope="s1")
    second = await app.submit("echo", {}, owner="bob")
    await app.cancel(first.id)
    newest, none_yet = await storage.event_feed(None)
    assert none_yet == [] and newest > start  # a live tail starts here
    after, page = await storage.event_feed(start, 2)
    assert [(e.job_id, e.seq, owner, scope) for _, owner, scope, e in page] == [
        (first.id, 1, "alice", "s1"),
        (second.id, 1, "bob", None),
    ]
    assert after == page[-1][0]
    end, rest = await storage.event_feed(after, 100)
    assert [(e.job_id, e.data["status"]) for _, _, _, e in rest] == [(first.id, "canceled")]
    assert end == newest
    assert await storage.event_feed(end, 100) == (end, [])
