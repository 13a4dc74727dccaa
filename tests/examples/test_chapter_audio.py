"""Seed 004: one audio job per (novel, chapter), found by its dedupe key; read in parts,
stitched into one WAV artifact; a browser that goes away does not stop it."""

from __future__ import annotations

import asyncio
import contextlib
import io
import socket
import wave
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn
from examples.seeds import chapter_audio
from examples.seeds.chapter_audio import audio_key, split_text, stitch_wavs

import backburner as bb
from backburner.api import create_api
from backburner.fakeprovider import FakeProvider

from .conftest import Keys, finished, post_job

pytestmark = pytest.mark.sqlite_only

TEXT = (
    "The rain had not stopped for three days. Mara stood at the end of the pier and listened "
    "to the harbour breathe. Somewhere behind her a door opened and closed. She did not turn."
)


def audio(novel: str, chapter: int, **extra: Any) -> dict[str, Any]:
    """The body of a request to read ``chapter`` of ``novel``."""
    data = {"novel_id": novel, "chapter_number": chapter, "title": "The Pier", "text": TEXT}
    return {
        "kind": "chapter_audio",
        "input": {**data, **extra},
        "scope": f"novel:{novel}",
        "dedupe_key": audio_key(novel, chapter),
    }


def test_long_chapters_are_split_between_sentences() -> None:
    assert split_text(TEXT, 100) == [
        "The rain had not stopped for three days.",
        "Mara stood at the end of the pier and listened to the harbour breathe.",
        "Somewhere behind her a door opened and closed. She did not turn.",
    ]
    assert split_text("x" * 250, 100) == ["x" * 100, "x" * 100, "x" * 50]


def test_parts_are_stitched_into_one_wav() -> None:
    def tone(frames: int) -> bytes:
        out = io.BytesIO()
        with wave.open(out, "wb") as writer:
            writer.setnchannels(1)
            writer.setsampwidth(2)
            writer.setframerate(8000)
            writer.writeframes(b"\x01\x00" * frames)
        return out.getvalue()

    with wave.open(io.BytesIO(stitch_wavs([tone(800), tone(1600)]))) as reader:
        assert (reader.getnframes(), reader.getframerate()) == (2400, 8000)


async def test_one_job_per_novel_and_chapter_found_by_its_key(
    api: httpx.AsyncClient,
    keys: Keys,
    fake: FakeProvider,
    worker: bb.Worker,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(chapter_audio, "MAX_PART_CHARS", 100)  # several parts, quickly read
    third = await post_job(api, keys.alice, audio("n1", 3))
    again = await post_job(api, keys.alice, audio("n1", 3))
    fourth = await post_job(api, keys.alice, audio("n1", 4))
    assert again["id"] == third["id"] and fourth["id"] != third["id"]

    found = await api.get("/v1/jobs", params={"dedupe_key": audio_key("n1", 3)}, headers=keys.alice)
    assert [j["id"] for j in found.json()["jobs"]] == [third["id"]]
    done = await finished(api, keys.alice, third["id"])

    assert done["status"] == "succeeded"
    output = done["output"]
    assert output["parts"] == 3  # title and text, in parts of at most 100 characters
    assert list(done["partial"]) == ["part-1", "part-2", "part-3"]
    durations = [await wav_seconds(api, keys, p["url"]) for p in done["partial"].values()]
    whole = await wav_seconds(api, keys, output["audio_url"])
    assert whole == pytest.approx(sum(durations)) == pytest.approx(output["duration_s"])
    assert (await api.get(output["audio_url"], headers=keys.bob)).status_code == 404
    await finished(api, keys.alice, fourth["id"])
    assert fake.count("POST", "audio/speech") == 6  # three parts each, each read once


async def wav_seconds(api: httpx.AsyncClient, keys: Keys, url: str) -> float:
    """How long the WAV artifact at ``url`` plays."""
    response = await api.get(url, headers=keys.alice)
    assert response.status_code == 200 and response.headers["content-type"] == "audio/wav"
    with wave.open(io.BytesIO(response.content)) as reader:
        return reader.getnframes() / reader.getframerate()


@contextlib.asynccontextmanager
async def serving(app: bb.Backburner) -> AsyncIterator[str]:
    """The app's API with a worker inside, on a real loopback port (uvicorn, in this loop)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(create_api(app, run_worker=True), log_config=None, lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            assert not task.done(), "the server did not start"
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()


async def test_a_browser_that_goes_away_does_not_stop_the_reading(
    seed_app: bb.Backburner, keys: Keys, fake: FakeProvider
) -> None:
    fake.set_knobs(latency_s=1.0)
    async with serving(seed_app) as base:
        async with httpx.AsyncClient(base_url=base, timeout=0.3) as browser:
            with pytest.raises(httpx.ReadTimeout):  # the tab closes mid-wait
                await browser.post(
                    "/v1/jobs", json=audio("n2", 1), headers={**keys.alice, "Prefer": "wait=30"}
                )
        async with httpx.AsyncClient(base_url=base, timeout=10) as later:
            query = {"dedupe_key": audio_key("n2", 1)}
            [job] = (await later.get("/v1/jobs", params=query, headers=keys.alice)).json()["jobs"]
            assert job["status"] in ("queued", "running")
            done = await finished(later, keys.alice, job["id"])

    assert done["status"] == "succeeded" and done["attempt"] == 1
    assert fake.count("POST", "audio/speech") == 1
