"""Dedupe keys hold across processes: the database, not the caller, keeps one job per key."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

import backburner as bb
from tests.acceptance.conftest import PATIENCE, ROOT, all_jobs
from tests.conftest import eventually

pytestmark = pytest.mark.slow

PROCESSES = 4
KEYS = 50


async def test_concurrent_submits_from_four_processes_make_one_job_per_key(
    bb_app: bb.Backburner, db_url: str, tmp_path: Path
) -> None:
    """Four processes submit the same 50 dedupe keys at the same moment: the database ends
    with exactly one job per key, every process got that job back, and all but the one
    that inserted it were told ``deduplicated=True``.
    """
    go = tmp_path / "go"
    outputs = [tmp_path / f"submitter-{n}.out" for n in range(PROCESSES)]
    command = [sys.executable, "-m", "tests.apps.dedupe_submitter", db_url, str(go), str(KEYS)]
    procs = []
    try:
        for out in outputs:
            with out.open("wb") as stdout:
                procs.append(
                    subprocess.Popen(
                        command,
                        cwd=ROOT,
                        stdin=subprocess.DEVNULL,
                        stdout=stdout,
                        stderr=subprocess.STDOUT,
                    )
                )

        async def all_ready() -> bool:
            return all(out.read_text().startswith("ready\n") for out in outputs)

        await eventually(all_ready, timeout=PATIENCE, interval=0.05)
        go.touch()
        deadline = time.monotonic() + PATIENCE
        for proc in procs:
            assert proc.wait(timeout=max(deadline - time.monotonic(), 0.1)) == 0
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)

    answers: dict[str, list[tuple[str, bool]]] = defaultdict(list)
    for out in outputs:
        lines = out.read_text().splitlines()
        assert lines[0] == "ready" and len(lines) == KEYS + 1, lines
        for line in lines[1:]:
            key, job_id, deduplicated = line.split()
            answers[key].append((job_id, deduplicated == "True"))

    jobs = await all_jobs(bb_app)
    assert len(jobs) == KEYS
    by_key = {job.dedupe_key: job for job in jobs}
    assert set(by_key) == set(answers) == {f"key-{n}" for n in range(KEYS)}
    for key, got in answers.items():
        assert {job_id for job_id, _ in got} == {by_key[key].id}, (key, got)
        assert sorted(dedup for _, dedup in got) == [False] + [True] * (PROCESSES - 1), got
