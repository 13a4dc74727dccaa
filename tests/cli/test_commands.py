"""``status``, ``jobs``, ``cancel``, ``retry``, ``db upgrade`` and the help text."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import backburner as bb
from backburner.cli import cli

from .conftest import Cli, stored_jobs


async def seed(app: bb.Backburner) -> dict[str, bb.Job]:
    """Four jobs: queued ones for alice and bob, a canceled one, a held one."""
    jobs = {
        "alice": await app.submit("echo", {"text": "a"}, owner="alice", scope="novel:1"),
        "bob": await app.submit("echo", {"text": "b"}, owner="bob", scope="novel:2"),
        "canceled": await app.submit("echo", {"text": "c"}, owner="alice", scope="novel:2"),
        "hold": await app.submit("hold", {}, owner="carol"),
    }
    jobs["canceled"] = await app.cancel(jobs["canceled"].id)
    return jobs


async def test_status_prints_the_job_as_json(cli: Cli, local_app: bb.Backburner) -> None:
    job = (await seed(local_app))["alice"]

    result = await cli("status", job.id)

    assert result.code == 0, result.err
    shown = result.json()
    assert shown == job.model_dump(mode="json") | {"slow": False}
    assert (shown["status"], shown["owner"], shown["input"]) == (
        "queued",
        "alice",
        {"text": "a", "fail": False},
    )


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ([], {"alice", "bob", "canceled", "hold"}),
        (["--owner", "alice", "--active"], {"alice"}),
        (["--scope", "novel:2", "--status", "canceled", "--status", "failed"], {"canceled"}),
        (["--kind", "hold"], {"hold"}),
        (["--finished"], {"canceled"}),
    ],
)
async def test_jobs_lists_a_table_filtered(
    cli: Cli, local_app: bb.Backburner, filters: list[str], expected: set[str]
) -> None:
    jobs = await seed(local_app)

    result = await cli("jobs", *filters)

    assert result.code == 0, result.err
    shown = {name for name, job in jobs.items() if job.id in result.out}
    assert shown == expected
    assert "kind" in result.out.splitlines()[0]  # the header, at its full width in a pipe
    assert result.err == ""


async def test_jobs_limit_and_owner_from_the_environment(
    cli: Cli, local_app: bb.Backburner
) -> None:
    jobs = await seed(local_app)

    result = await cli("jobs", "--limit", "1", env={"BACKBURNER_OWNER": "alice"})

    assert result.code == 0, result.err
    assert jobs["canceled"].id in result.out  # the newest of alice's two
    assert jobs["alice"].id not in result.out
    assert result.err == "showing the newest 1; raise --limit for more\n"


async def test_jobs_with_no_match_says_so(cli: Cli) -> None:
    result = await cli("jobs", "--owner", "nobody")

    assert result.code == 0
    assert result.err == "no jobs\n"


async def test_cancel_then_retry_and_the_refused_transitions(
    cli: Cli, local_app: bb.Backburner
) -> None:
    job = (await seed(local_app))["alice"]

    canceled = await cli("cancel", job.id)
    again = await cli("cancel", job.id)
    retried = await cli("retry", job.id)
    refused = await cli("retry", job.id)

    assert (canceled.code, canceled.out) == (0, f"canceled job {job.id}\n")
    assert again.code == 2
    assert f"error: cannot cancel job {job.id}: it is already canceled" in again.err
    assert (retried.code, retried.out) == (0, f"job {job.id} is queued again\n")
    assert refused.code == 2
    assert "only failed or canceled jobs" in refused.err
    assert (await local_app.get(job.id)).status == "queued"
    assert len(await stored_jobs(cli.db_url)) == 4


async def test_delete_removes_only_that_job(cli: Cli, local_app: bb.Backburner) -> None:
    jobs = await seed(local_app)
    job_id = jobs["alice"].id

    deleted = await cli("delete", job_id)
    again = await cli("delete", job_id)

    assert (deleted.code, deleted.out) == (0, f"deleted job {job_id}\n")
    assert (again.code, again.out, again.err) == (2, "", f"error: no job with id {job_id!r}\n")
    left = {job.id for job in await stored_jobs(cli.db_url)}
    assert left == {job.id for name, job in jobs.items() if name != "alice"}


@pytest.mark.parametrize("command", ["status", "wait", "cancel", "retry"])
async def test_an_unknown_job_id_exits_2(cli: Cli, command: str) -> None:
    result = await cli(command, "no-such-job")

    assert result.code == 2
    assert result.err == "error: no job with id 'no-such-job'\n"
    assert await stored_jobs(cli.db_url) == []


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["jobs"], {"BACKBURNER_LEASE": "abc"}, "BACKBURNER_LEASE: 'abc' is not a duration"),
        (["db", "upgrade"], {"BACKBURNER_DATABASE_URL": "postgres+foo://x/y"}, "'postgres+foo'"),
    ],
    ids=["bad-duration", "unknown-scheme"],
)
async def test_bad_configuration_exits_2(
    cli: Cli, args: list[str], env: dict[str, str], expected: str
) -> None:
    result = await cli(*args, env=env)

    assert result.code == 2
    assert result.err.startswith("error: ")
    assert expected in result.err
    assert await stored_jobs(cli.db_url) == []


async def test_an_unusable_database_exits_1(cli: Cli) -> None:
    result = await cli("jobs", "--database-url", "sqlite:////no/such/dir/bb.db")

    assert result.code == 1
    assert result.err.startswith("error: ")


async def test_db_upgrade(cli: Cli) -> None:
    result = await cli("db", "upgrade")

    assert result.code == 0, result.err
    assert result.out == f"database is up to date: {cli.db_url}\n"


@pytest.mark.parametrize(
    ("command", "variables"),
    [
        ("submit", ["BACKBURNER_APP", "BACKBURNER_DATABASE_URL", "BACKBURNER_OWNER"]),
        ("jobs", ["BACKBURNER_APP", "BACKBURNER_DATABASE_URL", "BACKBURNER_SCOPE"]),
        ("wait", ["BACKBURNER_WAIT_TIMEOUT", "BACKBURNER_DATABASE_URL"]),
        ("status", ["BACKBURNER_APP", "BACKBURNER_DATABASE_URL"]),
        ("worker", ["BACKBURNER_APP", "BACKBURNER_CONCURRENCY", "BACKBURNER_LOG_LEVEL"]),
    ],
)
def test_help_shows_the_environment_twins(command: str, variables: list[str]) -> None:
    # In-process: the help text needs no database, and a process per command costs a second.
    result = CliRunner().invoke(cli, [command, "--help"], env={"COLUMNS": "200"})

    assert result.exit_code == 0
    for variable in variables:
        assert variable in result.output


def test_a_database_url_option_moves_the_artifacts_that_live_beside_the_database(
    tmp_path: Path,
) -> None:
    from backburner.artifacts import artifacts_dir
    from backburner.cli_backend import make_app

    url = f"sqlite:///{tmp_path / 'other.db'}"
    app = make_app("tests.cli.cliapp:app", url, needs_app=True)
    assert app.settings.database_url == url
    root = app.artifacts.store.root  # type: ignore[attr-defined]
    assert root == artifacts_dir(app.settings) == tmp_path / "other.artifacts"
