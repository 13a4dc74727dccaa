"""Seed 001: one active portrait per character, "load the show" paints only the missing
ones, images and clips are artifacts served with the owner check."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from examples.seeds.characters import Character, load_show, portrait_key, video_key

import backburner as bb
from backburner.fakeprovider import FakeProvider

from .conftest import Keys, bearer, finished, post_job, submit

pytestmark = pytest.mark.sqlite_only

SHOW = "show-7"
CAST = [
    Character(show_id=SHOW, character_id=f"char-{n}", name=name, description=looks)
    for n, (name, looks) in enumerate(
        [
            ("Ada", "a lighthouse keeper, silver braid"),
            ("Bram", "a tired ferryman, navy cap"),
            ("Cyra", "a young cartographer, red scarf"),
            ("Dov", "a baker who never sleeps"),
            ("Esme", "a retired spy, pearl earrings"),
        ],
        1,
    )
]


def portrait(character: Character, **options: Any) -> dict[str, Any]:
    """The body of a portrait request for ``character``."""
    return {
        "kind": "portrait",
        "input": character.model_dump(),
        "scope": f"show:{SHOW}",
        "dedupe_key": portrait_key(character.character_id),
        **options,
    }


async def test_a_second_click_gets_the_same_portrait_job(
    api: httpx.AsyncClient, keys: Keys, fake: FakeProvider, seed_app: bb.Backburner
) -> None:
    first = await api.post("/v1/jobs", json=portrait(CAST[0]), headers=keys.alice)
    again = await api.post("/v1/jobs", json=portrait(CAST[0]), headers=keys.alice)

    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"] and again.json()["deduplicated"] is True
    async with seed_app.worker():
        done = await finished(api, keys.alice, first.json()["id"])
    assert done["status"] == "succeeded"
    assert fake.count("POST", "images/generations") == 1


async def test_loading_the_show_paints_only_the_missing_portraits(
    api: httpx.AsyncClient,
    transport: httpx.ASGITransport,
    keys: Keys,
    fake: FakeProvider,
    worker: bb.Worker,
) -> None:
    painted = [(await post_job(api, keys.alice, portrait(c)))["id"] for c in CAST[:3]]
    for job_id in painted:
        assert (await finished(api, keys.alice, job_id))["status"] == "succeeded"
    assert fake.count("POST", "images/generations") == 3

    # Loading the show again, through the Python client.
    async with bb.AsyncClient(str(api.base_url), keys.alice_key, transport=transport) as client:
        jobs = await load_show(client, CAST)

    assert [j.id for j in jobs[:3]] == painted  # the painted ones, as they were
    assert all(j.status is bb.JobStatus.SUCCEEDED for j in jobs[:3])
    assert not {j.id for j in jobs[3:]} & set(painted)
    for job in jobs[3:]:
        assert (await finished(api, keys.alice, job.id))["status"] == "succeeded"
    assert fake.count("POST", "images/generations") == 5  # 3 + the 2 missing, not 3 + 5


async def test_a_portrait_is_an_artifact_only_its_owner_sees(
    api: httpx.AsyncClient, keys: Keys, worker: bb.Worker
) -> None:
    job = await post_job(api, keys.alice, portrait(CAST[1]))
    done = await finished(api, keys.alice, job["id"])
    url = done["output"]["image_url"]
    assert url == f"/v1/jobs/{job['id']}/artifacts/portrait.png"

    mine = await api.get(url, headers=keys.alice)
    assert mine.status_code == 200 and mine.headers["content-type"] == "image/png"
    assert mine.content.startswith(b"\x89PNG")
    assert (await api.get(url, headers=keys.bob)).status_code == 404
    assert (await api.get(url)).status_code == 401
    # A page shows it with <img src="…?access_token=bbt_…">.
    token = await api.post("/v1/tokens", json={"ttl_s": 60}, headers=keys.alice)
    shown = await api.get(url, params={"access_token": token.json()["token"]})
    assert shown.status_code == 200 and shown.content == mine.content


async def test_a_character_video_is_created_polled_and_kept(
    api: httpx.AsyncClient, keys: Keys, fake: FakeProvider, worker: bb.Worker
) -> None:
    fake.set_knobs(prediction_steps=4)
    body = {
        "kind": "character_video",
        "input": CAST[0].model_dump(),
        "dedupe_key": video_key("char-1"),
    }
    job = await post_job(api, keys.alice, body)
    again = await post_job(api, keys.alice, body)
    assert again["id"] == job["id"]
    done = await finished(api, keys.alice, job["id"])

    assert done["status"] == "succeeded"
    output = done["output"]
    assert fake.predictions == {output["prediction_id"]: "succeeded"}
    assert fake.count("POST", "predictions") == 1
    clip = await api.get(output["video_url"], headers=keys.alice)
    assert clip.status_code == 200 and clip.content.startswith(b"GIF89a")
    assert (await api.get(output["video_url"], headers=bearer("bb_nope_nope"))).status_code == 401


async def test_a_character_video_whose_predictions_fail_fails_without_paying_again(
    api: httpx.AsyncClient, keys: Keys, fake: FakeProvider, worker: bb.Worker
) -> None:
    fake.set_knobs(prediction_failure_rate=1.0)
    job = await submit(api, keys.alice, "character_video", CAST[2].model_dump())
    done = await finished(api, keys.alice, job["id"])

    assert done["status"] == "failed" and done["attempt"] == 1
    assert done["error"]["type"] == "provider_error"
    assert "CUDA out of memory" in done["error"]["message"]
    assert fake.count("POST", "predictions") == 2  # a second try, then it gave up
