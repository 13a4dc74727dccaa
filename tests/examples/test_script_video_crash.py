"""Seed 002 with real worker processes: a worker SIGKILLed at scene 4 is followed by one that
resumes at scene 4 — the storyboard and scenes 1–3 come back from their durable steps, and
scene 4's prediction is polled again rather than created (and paid for) twice."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import backburner as bb
from backburner.fakeprovider import FakeProvider
from tests.acceptance.conftest import BACKBURNER, ROOT, WorkerProcess
from tests.conftest import eventually

from .conftest import Keys, finished, submit

pytestmark = [pytest.mark.slow, pytest.mark.sqlite_only]

#: Six sentences: six scenes.
SCRIPT = (
    "A lighthouse stands alone on a cliff. A storm gathers over the sea. A small boat fights "
    "the waves. The keeper lights the great lamp. The boat turns toward the light. Morning "
    "finds it safe in the harbour."
)


class SeedWorkers:
    """``backburner worker examples.seeds:app`` processes on the test's database, calling
    the test's fake provider; all killed when the test ends."""

    def __init__(self, tmp_path: Path, settings: bb.Settings, fake: FakeProvider) -> None:
        self.tmp_path = tmp_path
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("BACKBURNER_")}
        self.env = {
            **inherited,
            "BACKBURNER_DATABASE_URL": settings.database_url,
            "BACKBURNER_ARTIFACTS_DIR": str(settings.artifacts_dir),
            "BACKBURNER_DEMO_PROVIDER_URL": fake.url,
            "BACKBURNER_LEASE": "1s",
            "BACKBURNER_GRACE": "1s",
            "PYTHONUNBUFFERED": "1",
        }
        self.started: list[WorkerProcess] = []

    def start(self) -> WorkerProcess:
        """Start one (from the repository root, where ``examples`` is importable)."""
        log_path = self.tmp_path / f"seed-worker-{len(self.started) + 1}.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [str(BACKBURNER), "worker", "examples.seeds:app", "--log-level", "INFO"],
                cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        self.started.append(WorkerProcess(proc, log_path))
        return self.started[-1]

    def close(self) -> None:
        for worker in self.started:
            worker.kill()


@pytest.fixture
def seed_workers(
    tmp_path: Path, seed_settings: bb.Settings, fake: FakeProvider
) -> Iterator[SeedWorkers]:
    workers = SeedWorkers(tmp_path, seed_settings, fake)
    try:
        yield workers
    finally:
        workers.close()


async def test_a_worker_killed_at_scene_4_is_followed_by_one_that_resumes_at_scene_4(
    api: httpx.AsyncClient,
    keys: Keys,
    fake: FakeProvider,
    seed_app: bb.Backburner,
    seed_workers: SeedWorkers,
) -> None:
    fake.set_knobs(prediction_steps=4, latency_s=0.05)
    job = await submit(api, keys.alice, "script_video", {"script": SCRIPT})
    first = seed_workers.start()

    async def at_scene_4() -> bool:
        return (await seed_app.get(job["id"])).message == "Generating scene 4/6…"

    # The message comes from polling scene 4's prediction: it was created and its id stored.
    await eventually(at_scene_4, timeout=60, interval=0.01)
    first.kill()
    assert await at_scene_4(), "the worker got past scene 4 before it was killed"
    paid_before = list(fake.predictions)
    assert len(paid_before) == 4, paid_before

    seed_workers.start()
    done = await finished(api, keys.alice, job["id"], timeout=60)

    assert done["status"] == "succeeded", done["error"]
    scenes = done["output"]["scenes"]
    assert [s["status"] for s in scenes] == ["succeeded"] * 6
    assert [s["prediction_id"] for s in scenes[:4]] == paid_before
    assert fake.count("POST", "predictions") == 6  # not one was created twice
    assert fake.count("POST", "chat/completions") == 1  # nor the storyboard written twice
    assert done["attempt"] == 2
    assert await resumed_scenes(seed_app, job["id"]) == [4, 5, 6]


async def resumed_scenes(app: bb.Backburner, job_id: str) -> list[int]:
    """The scenes the job's second run reported generating, in order."""
    events = await app.events(job_id)
    runs = [i for i, e in enumerate(events) if e.type == "status" and e.data["status"] == "running"]
    assert len(runs) == 2, [e.data for e in events if e.type == "status"]
    reasons = [e.data.get("reason") for e in events if e.type == "status"]
    assert "lease_expired" in reasons
    scenes: list[int] = []
    for event in events[runs[1] :]:
        message = str(event.data.get("message") or "")
        if event.type == "progress" and message.startswith("Generating scene "):
            number = int(message.removeprefix("Generating scene ").split("/")[0])
            if not scenes or scenes[-1] != number:
                scenes.append(number)
    return scenes
