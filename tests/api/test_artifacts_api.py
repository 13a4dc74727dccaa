"""Artifacts through the API: a handler saves bytes, the owner (and admins) read them back
with their media type, anyone else gets the 404 of a missing job, and deleting the job
deletes them — on both backends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

import backburner as bb
from backburner.artifacts import CHUNK_BYTES
from backburner.testing import run_until_idle

from .conftest import Keys

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
#: A "video" of three chunks and a bit, each byte telling its place.
VIDEO = bytes(i % 251 for i in range(3 * CHUNK_BYTES + 1000))


def add_artifact_kinds(app: bb.Backburner) -> None:
    @app.task(attempts=1)
    async def poster(ctx: bb.Context, data: dict[str, Any]) -> dict[str, str]:
        return {"image": await ctx.save_artifact("poster.png", PNG, "image/png")}

    @app.task(attempts=1)
    async def clip(ctx: bb.Context, data: dict[str, Any]) -> dict[str, str]:
        return {"video": await ctx.save_artifact("clip.mp4", VIDEO, "video/mp4")}

    @app.task(attempts=1)
    def narration(ctx: bb.SyncContext, data: dict[str, Any]) -> dict[str, str]:
        return {"audio": ctx.save_artifact("speech.wav", b"RIFF....WAVE", "audio/wav")}


async def finished(client: httpx.AsyncClient, keys: Keys, app: bb.Backburner, kind: str) -> Any:
    submitted = await client.post("/v1/jobs", json={"kind": kind, "input": {}}, headers=keys.alice)
    assert submitted.status_code == 202, submitted.text
    await run_until_idle(app)
    job = (await client.get(f"/v1/jobs/{submitted.json()['id']}", headers=keys.alice)).json()
    assert job["status"] == "succeeded", job
    return job


async def test_the_owner_reads_a_saved_artifact_with_its_media_type(
    client: httpx.AsyncClient, keys: Keys, app: bb.Backburner
) -> None:
    add_artifact_kinds(app)
    job = await finished(client, keys, app, "poster")
    url = job["output"]["image"]
    assert url == f"/v1/jobs/{job['id']}/artifacts/poster.png"
    for who in (keys.alice, keys.admin):
        served = await client.get(url, headers=who)
        assert served.status_code == 200
        assert served.content == PNG
        assert served.headers["content-type"] == "image/png"
        assert served.headers["x-content-type-options"] == "nosniff"
        assert served.headers["content-security-policy"] == "sandbox"


async def test_a_browser_token_reads_it_from_an_img_src(
    client: httpx.AsyncClient, keys: Keys, app: bb.Backburner
) -> None:
    add_artifact_kinds(app)
    job = await finished(client, keys, app, "narration")
    minted = await client.post("/v1/tokens", json={}, headers=keys.alice)
    token = minted.json()["token"]
    served = await client.get(f"{job['output']['audio']}?access_token={token}")
    assert (served.status_code, served.content) == (200, b"RIFF....WAVE")
    assert served.headers["content-type"] == "audio/wav"


async def test_another_owner_and_missing_artifacts_answer_like_a_missing_job(
    client: httpx.AsyncClient, keys: Keys, app: bb.Backburner
) -> None:
    add_artifact_kinds(app)
    job = await finished(client, keys, app, "poster")
    missing_job = await client.get("/v1/jobs/nope/artifacts/poster.png", headers=keys.alice)
    answers = [
        await client.get(job["output"]["image"], headers=keys.bob),
        await client.get(f"/v1/jobs/{job['id']}/artifacts/other.png", headers=keys.alice),
        await client.get(f"/v1/jobs/{job['id']}/artifacts/..%2Fx", headers=keys.alice),
    ]
    for answer in answers:
        assert answer.status_code == 404
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["type"] == missing_job.json()["type"]
    assert (await client.get(job["output"]["image"])).status_code == 401


async def test_deleting_the_job_deletes_its_artifacts(
    client: httpx.AsyncClient, keys: Keys, app: bb.Backburner
) -> None:
    add_artifact_kinds(app)
    job = await finished(client, keys, app, "poster")
    folder = Path(app.settings.artifacts_dir or "") / job["id"]
    assert (folder / "poster.png").read_bytes() == PNG
    deleted = await client.delete(f"/v1/jobs/{job['id']}", headers=keys.alice)
    assert deleted.status_code == 204
    assert not folder.exists()
    assert (await client.get(job["output"]["image"], headers=keys.admin)).status_code == 404


async def test_a_byte_range_gets_that_part_so_players_can_seek(
    client: httpx.AsyncClient, keys: Keys, app: bb.Backburner
) -> None:
    add_artifact_kinds(app)
    job = await finished(client, keys, app, "poster")
    url, size = job["output"]["image"], len(PNG)
    whole = await client.get(url, headers=keys.alice)
    assert whole.headers["accept-ranges"] == "bytes"
    cases = {
        "bytes=0-7": (206, PNG[:8], f"bytes 0-7/{size}"),
        "bytes=8-": (206, PNG[8:], f"bytes 8-{size - 1}/{size}"),
        "bytes=-4": (206, PNG[-4:], f"bytes {size - 4}-{size - 1}/{size}"),
        "bytes=30-999": (206, PNG[30:], f"bytes 30-{size - 1}/{size}"),
        f"bytes={size}-": (416, b"", f"bytes */{size}"),
        "bytes=0-1,4-5": (200, PNG, None),  # several ranges: the whole body
        "items=0-1": (200, PNG, None),
    }
    for asked, (status, body, content_range) in cases.items():
        answer = await client.get(url, headers={**keys.alice, "Range": asked})
        assert (answer.status_code, answer.content) == (status, body), asked
        assert answer.headers.get("content-range") == content_range, asked
    other = await client.get(url, headers={**keys.bob, "Range": "bytes=0-7"})
    assert other.status_code == 404  # the owner check comes first


async def test_a_large_artifact_is_streamed_whole_or_by_a_range_across_chunks(
    client: httpx.AsyncClient, keys: Keys, app: bb.Backburner
) -> None:
    add_artifact_kinds(app)
    url = (await finished(client, keys, app, "clip"))["output"]["video"]
    first, last = CHUNK_BYTES - 10, 2 * CHUNK_BYTES + 10

    async with client.stream("GET", url, headers=keys.alice) as whole:
        received = [chunk async for chunk in whole.aiter_raw()]
    part = await client.get(url, headers={**keys.alice, "Range": f"bytes={first}-{last}"})

    assert whole.status_code == 200
    assert whole.headers["content-length"] == str(len(VIDEO))
    assert b"".join(received) == VIDEO
    assert part.status_code == 206
    assert part.headers["content-length"] == str(last - first + 1)
    assert part.content == VIDEO[first : last + 1]
