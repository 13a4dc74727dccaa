"""The Python API: submit, dedupe, list, bad input (nothing stored), the sync facade."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import BaseModel, Field

import backburner as bb
from tests.conftest import count_rows

S = bb.JobStatus


class ChapterIn(BaseModel):
    journal_entry: str = Field(min_length=20)
    mood: str | None = None


@pytest.fixture
def kinds(app: bb.Backburner) -> bb.Backburner:
    @app.task
    async def chapter(ctx: bb.Context, entry: ChapterIn) -> str:
        return entry.journal_entry[:10]

    @app.task
    async def portrait(ctx: bb.Context, data: dict[str, Any]) -> str:
        return "https://img/" + str(data["character"])

    return app


async def test_input_is_validated_and_stored_as_json(kinds: bb.Backburner) -> None:
    job = await kinds.submit("chapter", ChapterIn(journal_entry="Today I walked by the sea."))
    assert job.input == {"journal_entry": "Today I walked by the sea.", "mood": None}
    assert (await kinds.get(job.id)).input == job.input


@pytest.mark.parametrize(
    ("kind", "value", "options", "error", "match"),
    [
        ("nope", {}, {}, bb.UnknownKind, "unknown kind 'nope'"),
        ("chapter", {"journal_entry": "short"}, {}, bb.InputValidationError, "journal_entry"),
        ("chapter", {"mood": "x"}, {}, bb.InputValidationError, "journal_entry: Field required"),
        ("portrait", {"x": object()}, {}, bb.InputNotSerializable, "not JSON-serialisable"),
        ("portrait", {"x": float("nan")}, {}, bb.InputNotSerializable, "input"),
        ("portrait", {"x": "a" * 2_000_000}, {}, bb.InputTooLarge, "over the limit"),
        ("portrait", {}, {"owner": ""}, bb.InvalidInput, "owner"),
        ("portrait", {}, {"owner": "o" * 201}, bb.InvalidInput, "owner: at most 200"),
        ("portrait", {}, {"scope": 7}, bb.InvalidInput, "scope"),
        ("portrait", {}, {"priority": "high"}, bb.InvalidInput, "priority"),
        ("portrait", {}, {"reuse": "always"}, bb.InvalidInput, "reuse"),
        ("portrait", {}, {"reuse": "succeeded"}, bb.InvalidInput, "needs a dedupe_key"),
        ("portrait", {}, {"priority": 10**30}, bb.InvalidInput, "priority: must be from"),
        ("portrait", {"x": "\ud800"}, {}, bb.InputNotSerializable, "unpaired surrogate"),
        ("portrait", {}, {"scope": "\udfff"}, bb.InvalidInput, "scope: holds an unpaired"),
        ("portrait", {}, {"dedupe_key": "a\x00b"}, bb.InvalidInput, "dedupe_key: must not"),
    ],
)
async def test_bad_input_raises_a_clear_error_and_stores_nothing(
    kinds: bb.Backburner,
    db_url: str,
    kind: str,
    value: Any,
    options: dict[str, Any],
    error: type[Exception],
    match: str,
) -> None:
    existing = await kinds.submit("portrait", {"character": 1})
    with pytest.raises(error, match=match):
        await kinds.submit(kind, value, **options)
    assert count_rows(db_url) == 1 and count_rows(db_url, "events") == 1
    assert (await kinds.get(existing.id)).status is S.QUEUED


async def test_validation_error_lists_fields(kinds: bb.Backburner) -> None:
    with pytest.raises(bb.InputValidationError) as caught:
        await kinds.submit("chapter", {"journal_entry": 5})
    assert caught.value.errors[0]["loc"] == ("journal_entry",)


async def test_dedupe_returns_the_active_job_and_says_so(kinds: bb.Backburner) -> None:
    first = await kinds.submit("portrait", {"character": 123}, dedupe_key="portrait:123")
    second = await kinds.submit("portrait", {"character": 123}, dedupe_key="portrait:123")
    assert second.id == first.id and second.deduplicated and not first.deduplicated
    other_owner = await kinds.submit(
        "portrait", {"character": 123}, dedupe_key="portrait:123", owner="bob"
    )
    assert other_owner.id != first.id  # keys are per owner: no peeking at bob's jobs
    async with kinds.worker():
        await kinds.wait(first.id, timeout=10)
    fresh = await kinds.submit("portrait", {"character": 123}, dedupe_key="portrait:123")
    assert fresh.id != first.id and not fresh.deduplicated  # the old one is no longer active


async def test_reuse_succeeded_returns_the_finished_job(kinds: bb.Backburner) -> None:
    done = await kinds.submit("portrait", {"character": 1}, dedupe_key="portrait:1")
    async with kinds.worker():
        await kinds.wait(done.id, timeout=10)
    again = await kinds.submit(
        "portrait", {"character": 1}, dedupe_key="portrait:1", reuse="succeeded"
    )
    assert again.id == done.id and again.deduplicated and again.status is S.SUCCEEDED
    missing = await kinds.submit(
        "portrait", {"character": 2}, dedupe_key="portrait:2", reuse="succeeded"
    )
    assert missing.status is S.QUEUED and not missing.deduplicated


async def test_concurrent_dedupe_in_one_process_yields_one_job(kinds: bb.Backburner) -> None:
    jobs = await asyncio.gather(
        *[kinds.submit("portrait", {"character": 9}, dedupe_key="p:9") for _ in range(20)]
    )
    assert len({j.id for j in jobs}) == 1
    assert sum(not j.deduplicated for j in jobs) == 1


async def test_retry_refuses_when_the_key_is_taken_again(kinds: bb.Backburner) -> None:
    first = await kinds.submit("portrait", {"character": 5}, dedupe_key="p:5")
    await kinds.cancel(first.id)
    second = await kinds.submit("portrait", {"character": 5}, dedupe_key="p:5")
    with pytest.raises(bb.InvalidTransition, match="dedupe key"):
        await kinds.retry(first.id)
    assert (await kinds.get(first.id)).status is S.CANCELED
    assert (await kinds.get(second.id)).status is S.QUEUED


async def test_list_filters_newest_first_with_cursor_pages(kinds: bb.Backburner) -> None:
    ids = [
        (await kinds.submit("portrait", {"character": i}, owner="alice", scope="show:1")).id
        for i in range(7)
    ]
    await kinds.submit("portrait", {"character": 0}, owner="bob", scope="show:1")
    other = await kinds.submit("chapter", {"journal_entry": "x" * 30}, owner="alice")
    await kinds.cancel(ids[0])

    seen, cursor = [], None
    while True:
        page = await kinds.list(owner="alice", scope="show:1", limit=3, cursor=cursor)
        seen += [j.id for j in page.jobs]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == ids[::-1]
    active = await kinds.list(owner="alice", active=True)
    assert {j.id for j in active.jobs} == {*ids[1:], other.id}
    assert [j.id for j in (await kinds.list(status="canceled")).jobs] == [ids[0]]
    assert [j.id for j in (await kinds.list(kind="chapter")).jobs] == [other.id]
    keyed = await kinds.submit("portrait", {"character": 1}, owner="alice", dedupe_key="d")
    assert [j.id for j in (await kinds.list(dedupe_key="d")).jobs] == [keyed.id]
    many = await kinds.get_many([ids[2], "missing", ids[1]])
    assert [j.id for j in many] == [ids[2], ids[1]]


async def test_list_rejects_bad_filters(kinds: bb.Backburner) -> None:
    with pytest.raises(bb.InvalidInput, match="status"):
        await kinds.list(status="done")
    with pytest.raises(bb.InvalidInput, match="limit"):
        await kinds.list(limit=0)


async def test_database_url_scheme_is_checked_before_anything_is_stored() -> None:
    with pytest.raises(bb.UnsupportedDatabase, match="mysql"):
        bb.Backburner("mysql://localhost/db")


def test_sync_facade_for_scripts(settings: bb.Settings) -> None:
    app = bb.Backburner(settings=settings)

    @app.task
    async def echo(ctx: bb.Context, data: dict[str, Any]) -> dict[str, Any]:
        return data

    with bb.SyncBackburner(app) as jobs:
        job = jobs.submit("echo", {"a": 1}, owner="script")
        assert jobs.get(job.id).status is S.QUEUED
        assert [j.id for j in jobs.list(owner="script").jobs] == [job.id]
        assert jobs.cancel(job.id).status is S.CANCELED
        assert jobs.retry(job.id).status is S.QUEUED
        asyncio.run(app.worker(burst=True).run())
        assert jobs.wait(job.id, timeout=5).output == {"a": 1}
        jobs.delete(job.id)
        with pytest.raises(bb.JobNotFound):
            jobs.get(job.id)


async def test_watch_yields_changes_until_finished(kinds: bb.Backburner) -> None:
    @kinds.task
    async def steps(ctx: bb.Context, n: int) -> int:
        for i in range(1, n + 1):
            await ctx.progress(i / n, f"step {i}/{n}")
            await asyncio.sleep(0.05)
        return n

    job = await kinds.submit("steps", 4)
    messages: list[str | None] = []
    async with kinds.worker():
        async for (seen,) in kinds.watch([job.id], timeout=10, refresh_s=0.02):
            messages.append(seen.message)
    assert seen.status is S.SUCCEEDED
    assert "step 4/4" in messages and messages.index("step 2/4") < messages.index("step 4/4")
    with pytest.raises(bb.JobNotFound, match="missing"):
        async for _ in kinds.watch([job.id, "missing"]):
            pass
    queued = await kinds.submit("steps", 1)
    with pytest.raises(bb.JobTimeout, match="still queued"):
        async for _ in kinds.watch([queued.id], timeout=0.1):
            pass


async def test_many_first_calls_at_once_share_one_storage(kinds: bb.Backburner) -> None:
    jobs = await asyncio.gather(*[kinds.submit("portrait", {"character": i}) for i in range(300)])
    assert len({j.id for j in jobs}) == 300
    assert await kinds.open() is await kinds.open()
