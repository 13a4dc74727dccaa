"""``backburner submit``: what it stores, and every input it refuses without storing anything."""

from __future__ import annotations

from pathlib import Path

import pytest

import backburner as bb

from .conftest import APP, Cli, stored_jobs


async def test_submit_prints_the_id_of_the_stored_job(cli: Cli) -> None:
    result = await cli(
        "submit", "echo", "--app", APP, "--input", '{"text": "hi"}',
        "--owner", "alice", "--scope", "novel:42", "--priority", "5",
    )  # fmt: skip

    assert result.code == 0, result.err
    [job] = await stored_jobs(cli.db_url)
    assert result.out.strip() == job.id
    assert (job.kind, job.owner, job.scope, job.priority) == ("echo", "alice", "novel:42", 5)
    assert job.input == {"text": "hi", "fail": False}
    assert job.status == "queued"


async def test_app_and_owner_come_from_the_environment(cli: Cli) -> None:
    env = {"BACKBURNER_APP": APP, "BACKBURNER_OWNER": "bob"}
    result = await cli("submit", "echo", "--input", '{"text": "hi"}', env=env)

    assert result.code == 0, result.err
    [job] = await stored_jobs(cli.db_url)
    assert job.owner == "bob"


async def test_a_repeated_dedupe_key_returns_the_active_job(
    cli: Cli, local_app: bb.Backburner
) -> None:
    first = await local_app.submit("echo", {"text": "a"}, dedupe_key="k-1")

    again = await cli(
        "submit", "echo", "--app", APP, "--input", '{"text": "b"}', "--dedupe-key", "k-1"
    )

    assert again.code == 0, again.err
    assert again.out == f"{first.id}\n"
    assert again.err == f"job {first.id} (queued) already has this dedupe key\n"
    assert len(await stored_jobs(cli.db_url)) == 1


@pytest.mark.parametrize("source", ["file", "stdin"])
async def test_input_from_a_file_or_stdin(cli: Cli, tmp_path: Path, source: str) -> None:
    path = tmp_path / "input.json"
    path.write_text('{"text": "from elsewhere"}')
    where, stdin = (f"@{path}", None) if source == "file" else ("-", path.read_text())

    result = await cli("submit", "echo", "--app", APP, "--input", where, stdin=stdin)

    assert result.code == 0, result.err
    [job] = await stored_jobs(cli.db_url)
    assert job.input["text"] == "from elsewhere"


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        pytest.param(["nope"], {}, "unknown kind 'nope'", id="unknown-kind"),
        pytest.param(
            ["echo", "--input", '{"text": ""}'], {}, "text: String should have", id="bad-field"
        ),
        pytest.param(["echo", "--input", "{text"], {}, "--input: not valid JSON", id="bad-json"),
        pytest.param(["echo", "--input", "@/no/such.json"], {}, "cannot read", id="no-file"),
        pytest.param(
            ["echo", "--input", '{"text": "' + "x" * 100 + '"}'],
            {"BACKBURNER_MAX_INPUT_BYTES": "64"},
            "over the limit of 64 bytes",
            id="too-large",
        ),
        pytest.param(
            ["echo", "--input", '{"text": "hi"}'],
            {"BACKBURNER_LEASE": "abc"},
            "BACKBURNER_LEASE: 'abc' is not a duration",
            id="bad-duration-env",
        ),
        pytest.param(
            ["echo", "--input", '{"text": "hi"}'],
            {"BACKBURNER_DATABASE_URL": "postgres+foo://db/jobs"},
            "unsupported scheme 'postgres+foo'",
            id="unknown-scheme-env",
        ),
        pytest.param(
            ["echo", "--input", '{"text": "hi"}', "--wait", "--timeout", "soon"],
            {},
            "--timeout: 'soon' is not a duration",
            id="bad-timeout",
        ),
        pytest.param(
            ["echo", "--input", '{"text": "hi"}', "--database-url", "mysql://db/jobs"],
            {},
            "unsupported scheme 'mysql'",
            id="unknown-scheme-option",
        ),
    ],
)
async def test_bad_input_is_one_line_on_stderr_exit_2_and_nothing_stored(
    cli: Cli, args: list[str], env: dict[str, str], expected: str
) -> None:
    result = await cli("submit", *args, "--app", APP, env=env)

    assert result.code == 2
    assert result.out == ""
    assert result.err.startswith("error: ")
    assert expected in result.err
    assert result.err.count("\n") == 1
    assert await stored_jobs(cli.db_url) == []


async def test_submit_needs_the_app(cli: Cli) -> None:
    result = await cli("submit", "echo", "--input", '{"text": "hi"}')

    assert result.code == 2
    assert "needs the app" in result.err
    assert "BACKBURNER_APP" in result.err
    assert await stored_jobs(cli.db_url) == []


async def test_an_app_that_cannot_be_loaded(cli: Cli) -> None:
    result = await cli("submit", "echo", "--app", "tests.cli.nowhere:app")

    assert result.code == 2
    assert "cannot load APP 'tests.cli.nowhere:app'" in result.err
