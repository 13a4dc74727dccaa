"""``backburner wait``, ``submit --wait`` and ``worker --burst``: watching jobs to their end."""

from __future__ import annotations

import backburner as bb

from ..conftest import eventually, wait_status
from .conftest import APP, Cli


async def test_wait_exits_0_with_the_output_once_a_worker_ran_the_job(
    cli: Cli, local_app: bb.Backburner
) -> None:
    job = await local_app.submit("echo", {"text": "hello"})
    waiting = await cli.start("wait", job.id)

    worker = await cli("worker", APP, "--burst")
    result = await cli.finish(waiting)

    assert worker.code == 0, worker.err
    assert result.code == 0, result.err
    assert result.json() == {"text": "HELLO"}
    assert "succeeded" in result.err  # the progress bar's last frame


async def test_wait_exits_1_with_the_error_when_the_job_failed(
    cli: Cli, local_app: bb.Backburner
) -> None:
    job = await local_app.submit("echo", {"text": "hello", "fail": True})

    worker = await cli("worker", APP, "--burst")
    result = await cli("wait", job.id)

    assert worker.code == 0, worker.err
    assert result.code == 1
    assert result.out == ""
    assert f"error: job {job.id} failed: handler_error: asked to fail" in result.err


async def test_submit_wait_prints_the_output(cli: Cli, local_app: bb.Backburner) -> None:
    waiting = await cli.start("submit", "echo", "--app", APP, "--input", '{"text": "w"}', "--wait")

    async def submitted() -> bool:
        return bool((await local_app.list()).jobs)

    await eventually(submitted)  # a burst worker started earlier would find nothing to do
    await cli("worker", APP, "--burst")
    result = await cli.finish(waiting)

    assert result.code == 0, result.err
    assert result.json() == {"text": "W"}
    [job] = (await local_app.list()).jobs
    assert f"submitted job {job.id}" in result.err


async def test_cancel_a_running_job_and_wait_exits_1(cli: Cli, local_app: bb.Backburner) -> None:
    job = await local_app.submit("hold", {})
    async with local_app.worker():
        await wait_status(local_app, job.id, "running")
        waiting = await cli.start("wait", job.id)

        canceled = await cli("cancel", job.id)
        result = await cli.finish(waiting)

    assert canceled.code == 0, canceled.err
    assert canceled.out == f"cancel requested: job {job.id} is running; its worker will stop it\n"
    assert result.code == 1
    assert f"error: job {job.id} canceled" in result.err


async def test_wait_gives_up_after_the_timeout(cli: Cli, local_app: bb.Backburner) -> None:
    job = await local_app.submit("echo", {"text": "never run"})

    result = await cli("wait", job.id, "--timeout", "200ms")

    assert result.code == 1
    assert f"error: job {job.id} is still queued after 0.2s" in result.err


async def test_a_bad_timeout_is_a_usage_error(cli: Cli) -> None:
    result = await cli("wait", "some-job", env={"BACKBURNER_WAIT_TIMEOUT": "soon"})

    assert result.code == 2
    assert result.err == (
        "error: --timeout: 'soon' is not a duration; "
        "use seconds or a string like '500ms', '90s', '10m', '24h', '1d', '1h30m'\n"
    )
