"""Seed 002, in process: a storyboard, then a clip per scene with "Generating scene k/N…"
progress and each finished scene as a partial result; a failed scene is listed, not fatal.
(A worker killed at scene 4: test_script_video_crash.py.)"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest
from examples.seeds.script_video import beats

import backburner as bb
from backburner.fakeprovider import FakeProvider

from .conftest import Keys, finished, submit

pytestmark = pytest.mark.sqlite_only

#: Five sentences: five scenes.
SCRIPT = (
    "A fox wakes at dawn in a frosted meadow. She crosses the frozen river. The ice cracks "
    "beneath her. She leaps to the far bank. Spring arrives in the valley."
)


def test_a_script_is_split_into_at_most_max_scenes_beats() -> None:
    assert beats(SCRIPT, 7) == [
        "A fox wakes at dawn in a frosted meadow.",
        "She crosses the frozen river.",
        "The ice cracks beneath her.",
        "She leaps to the far bank.",
        "Spring arrives in the valley.",
    ]
    assert beats(SCRIPT, 2) == [
        "A fox wakes at dawn in a frosted meadow. She crosses the frozen river. "
        "The ice cracks beneath her.",
        "She leaps to the far bank. Spring arrives in the valley.",
    ]
    assert beats("no punctuation at all", 3) == ["no punctuation at all"]


async def progress_messages(app: bb.Backburner, job_id: str) -> list[str]:
    """The job's progress messages, in order."""
    events = await app.events(job_id)
    return [e.data["message"] for e in events if e.type == "progress" and e.data.get("message")]


async def test_scenes_report_progress_and_partial_results(
    api: httpx.AsyncClient,
    keys: Keys,
    fake: FakeProvider,
    seed_app: bb.Backburner,
    worker: bb.Worker,
) -> None:
    job = await submit(api, keys.alice, "script_video", {"script": SCRIPT}, scope="project:fox")
    done = await finished(api, keys.alice, job["id"])

    assert done["status"] == "succeeded"
    output = done["output"]
    assert [s["scene"] for s in output["scenes"]] == [1, 2, 3, 4, 5]
    assert all(s["status"] == "succeeded" for s in output["scenes"]) and not output["failed_scenes"]
    assert fake.count("POST", "chat/completions") == 1  # the storyboard
    assert fake.count("POST", "predictions") == 5
    scenes = [m for m in await progress_messages(seed_app, job["id"]) if m.startswith("Generating")]
    assert list(dict.fromkeys(scenes)) == [f"Generating scene {k}/5…" for k in range(1, 6)]
    # Each finished scene was a partial result, and its clip is served to its owner.
    assert set(done["partial"]) == {"storyboard"} | {f"scene-{k}" for k in range(1, 6)}
    scene = output["scenes"][2]
    shown = {"url": scene["video_url"], "content_type": "image/gif", "beat": scene["beat"]}
    assert done["partial"]["scene-3"] == shown
    clip = await api.get(output["scenes"][2]["video_url"], headers=keys.alice)
    assert clip.status_code == 200 and clip.headers["content-type"] == "image/gif"
    assert (await api.get(output["scenes"][2]["video_url"], headers=keys.bob)).status_code == 404


async def test_partial_results_are_visible_while_the_job_runs(
    api: httpx.AsyncClient,
    keys: Keys,
    fake: FakeProvider,
    seed_app: bb.Backburner,
    worker: bb.Worker,
) -> None:
    fake.set_knobs(prediction_steps=4, latency_s=0.05)
    job = await submit(api, keys.alice, "script_video", {"script": SCRIPT})
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(30):
        while not seen or seen[-1]["status"] in ("queued", "running"):
            await asyncio.sleep(0.02)  # a page polling briskly
            seen.append((await api.get(f"/v1/jobs/{job['id']}", headers=keys.alice)).json())
    running = [j for j in seen if j["status"] == "running" and j["message"]]
    midway = [j for j in running if re.fullmatch(r"Generating scene 3/5…", j["message"])]
    assert midway, [j["message"] for j in running]
    # At scene 3, scenes 1 and 2 are already there to show.
    assert {"scene-1", "scene-2"} <= set(midway[-1]["partial"])
    assert "scene-4" not in midway[0]["partial"]
    assert 0.4 < midway[0]["progress"] < 0.7


async def test_a_failed_scene_leaves_a_partial_video_not_a_failed_job(
    api: httpx.AsyncClient, keys: Keys, fake: FakeProvider, worker: bb.Worker
) -> None:
    # Seeded: with this rate, the fault sequence fails both tries of some scenes only.
    fake.reset(seed=0, prediction_failure_rate=0.6)
    job = await submit(api, keys.alice, "script_video", {"script": SCRIPT})
    done = await finished(api, keys.alice, job["id"])

    assert done["status"] == "succeeded", done["error"]
    output = done["output"]
    failed = [s for s in output["scenes"] if s["status"] == "failed"]
    good = [s for s in output["scenes"] if s["status"] == "succeeded"]
    assert failed and good
    assert output["failed_scenes"] == [s["scene"] for s in failed]
    assert all("CUDA out of memory" in s["error"] and s["video_url"] is None for s in failed)
    assert all(fake.predictions[s["prediction_id"]] == "failed" for s in failed)
    assert all(fake.predictions[s["prediction_id"]] == "succeeded" for s in good)


async def test_a_video_whose_every_scene_failed_fails(
    api: httpx.AsyncClient, keys: Keys, fake: FakeProvider, worker: bb.Worker
) -> None:
    fake.set_knobs(prediction_failure_rate=1.0)
    job = await submit(api, keys.alice, "script_video", {"script": SCRIPT, "max_scenes": 2})
    done = await finished(api, keys.alice, job["id"])

    assert done["status"] == "failed" and done["attempt"] == 1
    assert done["error"]["message"].startswith("every scene failed")
    assert fake.count("POST", "predictions") == 4  # two tries per scene, paid once
