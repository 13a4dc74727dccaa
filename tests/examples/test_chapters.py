"""Seed 000: a journal entry becomes a chapter — at once when it is quick, in the background
when it is not; broken JSON and a provider that is down are retried."""

from __future__ import annotations

import httpx
import pytest
from examples.seeds.chapters import ChapterOut

import backburner as bb
from backburner.fakeprovider import FakeProvider
from tests.conftest import eventually

from .conftest import Keys, finished, submit

ENTRY = {"journal_entry": "Walked to the harbour in the rain. Nobody else was out. I felt lost."}
CHAPTER = {"kind": "chapter", "input": ENTRY, "scope": "novel:1"}


async def test_a_quick_chapter_comes_straight_back(
    api: httpx.AsyncClient, keys: Keys, fake: FakeProvider, worker: bb.Worker
) -> None:
    response = await api.post("/v1/jobs", json=CHAPTER, headers={**keys.alice, "Prefer": "wait=30"})

    assert response.status_code == 200
    job = response.json()
    assert job["status"] == "succeeded"
    chapter = ChapterOut.model_validate(job["output"])
    assert chapter.title and chapter.mood and chapter.content
    assert fake.count("POST", "chat/completions") == 1


async def test_a_slow_chapter_answers_202_and_keeps_being_crafted(
    api: httpx.AsyncClient, keys: Keys, fake: FakeProvider, worker: bb.Worker
) -> None:
    fake.set_knobs(latency_s=1.5)
    response = await api.post("/v1/jobs", json=CHAPTER, headers={**keys.alice, "Prefer": "wait=1"})

    assert response.status_code == 202
    job = response.json()
    assert job["status"] == "running" and job["message"] == "Crafting your chapter…"
    # The novel's page finds the chapter still being crafted, by its scope …
    active = await api.get(
        "/v1/jobs", params={"scope": "novel:1", "active": "true"}, headers=keys.alice
    )
    assert [j["id"] for j in active.json()["jobs"]] == [job["id"]]
    # … and shows it once it is done.
    done = await finished(api, keys.alice, job["id"])
    assert done["status"] == "succeeded" and done["attempt"] == 1


async def test_invalid_json_from_the_model_is_retried(
    api: httpx.AsyncClient, keys: Keys, fake: FakeProvider, worker: bb.Worker
) -> None:
    fake.set_knobs(invalid_json_rate=1.0)
    job = await submit(api, keys.alice, "chapter", ENTRY)

    async def first_attempt_failed() -> bool:
        current = (await api.get(f"/v1/jobs/{job['id']}", headers=keys.alice)).json()
        return current["error"] is not None

    await eventually(first_attempt_failed)
    fake.set_knobs(invalid_json_rate=0.0)  # the model manages on the next try
    done = await finished(api, keys.alice, job["id"])

    assert done["status"] == "succeeded" and done["attempt"] == 2
    assert done["error"] is None
    assert fake.count("POST", "chat/completions") == 2


@pytest.mark.sqlite_only  # two backoffs: seconds, and nothing the database decides
async def test_a_model_that_never_replies_in_json_fails_as_invalid_output(
    api: httpx.AsyncClient, keys: Keys, fake: FakeProvider, worker: bb.Worker
) -> None:
    fake.set_knobs(invalid_json_rate=1.0)
    job = await submit(api, keys.alice, "chapter", ENTRY)
    done = await finished(api, keys.alice, job["id"])

    assert done["status"] == "failed" and done["attempt"] == 3
    assert done["error"]["type"] == "invalid_output"
    assert "not valid JSON" in done["error"]["message"]


async def test_a_provider_that_is_down_for_a_moment_is_retried(
    api: httpx.AsyncClient, keys: Keys, fake: FakeProvider, worker: bb.Worker
) -> None:
    # A 502 page (the kind's backoff), then a 503 with Retry-After (the provider's pause).
    fake.set_knobs(fail_next=[502, 503], retry_after_s=0.1)
    job = await submit(api, keys.alice, "chapter", ENTRY)
    done = await finished(api, keys.alice, job["id"])

    assert done["status"] == "succeeded" and done["attempt"] == 3
    assert [r.status for r in fake.requests] == [502, 503, 200]
