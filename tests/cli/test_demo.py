"""``backburner demo`` (``make demo``) as a real process from the repository root: the
dashboard answers, its token works, the sample jobs finish on the fake provider, and it stops
by itself after ``--exit-after``; clear errors where it cannot run."""

from __future__ import annotations

import asyncio
import re
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import COMMAND, Cli

pytestmark = pytest.mark.slow

#: Samples in examples/seeds/samples.py, less the portrait asked for twice (one job).
SAMPLE_JOBS = 10


async def read_until(stream: asyncio.StreamReader, marker: str, timeout: float = 30) -> str:
    """What ``stream`` printed up to and including the line containing ``marker``."""
    text = ""
    async with asyncio.timeout(timeout):
        while marker not in text:
            line = await stream.readline()
            assert line, f"the output ended before {marker!r}:\n{text}"
            text += line.decode()
    return text


async def all_finished(
    http: httpx.AsyncClient, token: str, timeout: float = 40
) -> list[dict[str, Any]]:
    """The demo owner's jobs once none is queued or running."""
    deadline = time.monotonic() + timeout
    while True:
        response = await http.get("/v1/jobs", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, response.text
        jobs: list[dict[str, Any]] = response.json()["jobs"]
        if jobs and all(j["status"] in ("succeeded", "failed", "canceled") for j in jobs):
            return jobs
        assert time.monotonic() < deadline, [(j["kind"], j["status"]) for j in jobs]
        await asyncio.sleep(0.2)


async def test_the_demo_serves_the_dashboard_and_finishes_its_samples(
    cli: Cli, tmp_path: Path
) -> None:
    process = await cli.start(
        "demo", "--port", "0", "--database", str(tmp_path / "demo.db"),
        "--fake-latency", "0.05", "--fake-error-rate", "0",
    )  # fmt: skip
    assert process.stdout is not None
    try:
        shown = await read_until(process.stdout, "operator")
        found = re.search(r"dashboard\s+(http://127\.0\.0\.1:\d+)/ui#token=(bbt_\S+)", shown)
        admin = re.search(r"operator\s+http://\S+/ui/admin#key=(bb_\S+)", shown)
        assert found and admin, shown
        base, token = found.groups()
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            assert (await http.get("/ui")).status_code == 200
            jobs = await all_finished(http, token)
            overview = await http.get(
                "/v1/admin/overview", headers={"Authorization": f"Bearer {admin.group(1)}"}
            )
        process.send_signal(signal.SIGINT)  # Ctrl-C
        _, err = await asyncio.wait_for(process.communicate(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    assert process.returncode == 130, err.decode()
    assert "Traceback" not in err.decode()
    assert len(jobs) == SAMPLE_JOBS
    assert {j["owner"] for j in jobs} == {"demo"}
    # The fake fails now and then, on purpose; retries see most of them through.
    assert sum(j["status"] == "succeeded" for j in jobs) >= SAMPLE_JOBS - 2, jobs
    assert overview.status_code == 200
    assert (tmp_path / "demo.db").exists()


async def test_the_demo_stops_by_itself_after_exit_after(cli: Cli, tmp_path: Path) -> None:
    result = await cli(
        "demo", "--port", "0", "--exit-after", "0.5", "--no-samples",
        "--database", str(tmp_path / "demo.db"),
    )  # fmt: skip

    assert result.code == 0, result.err
    assert "0 sample jobs submitted" in result.out
    assert result.out.rstrip().endswith("demo stopped")


async def test_the_demo_away_from_the_repository_root_says_where_to_run_it(
    cli: Cli, tmp_path: Path
) -> None:
    process = await asyncio.create_subprocess_exec(
        *COMMAND, "demo", "--port", "0", "--exit-after", "1",
        cwd=tmp_path, env=cli.env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(process.communicate(), 30)

    assert process.returncode == 2
    message = err.decode()
    assert "cannot load APP 'examples.seeds:app'" in message
    assert "run it from the repository root" in message
    assert not (tmp_path / "demo.db").exists()


async def test_the_demo_on_openai_needs_its_variables(cli: Cli) -> None:
    env = {k: v for k, v in cli.env.items() if not k.startswith("OPENAI_")}
    process = await asyncio.create_subprocess_exec(
        *COMMAND, "demo", "--provider", "openai", "--database", "sqlite:///:memory:",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(process.communicate(), 30)

    assert process.returncode == 2
    assert "--provider openai needs OPENAI_API_KEY" in err.decode()
    assert "OPENAI_MODEL" in err.decode()
