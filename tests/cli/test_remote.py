"""The job commands with ``--url``: against a real `backburner serve` process, as a key's owner.

The server runs without a worker, so submitted jobs stay queued until a test starts a
``backburner worker --burst`` on the server's database. Each test works in a scope of its own
and leaves no job queued behind it.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

import backburner as bb
from backburner.cli import cli as typer_app
from tests.api.test_real_server import free_port, serving

from ..conftest import eventually
from .conftest import COMMAND, ROOT, Cli, Result

pytestmark = pytest.mark.slow

#: The app the server loads: one kind, ``chapter`` (progress 0.3, then sleeps ``seconds``).
SERVER_APP = "tests.api.serverapp:app"
NOT_VALID = "error: the API key is not valid (unknown or revoked)"


@dataclass(frozen=True)
class Remote:
    """The running server, keys for alice and bob, and the server's own database."""

    url: str
    alice: str
    bob: str
    db_url: str

    def args(self, key: str | None = None) -> list[str]:
        """``--url`` and ``--key`` (alice's unless given)."""
        return ["--url", self.url, "--key", key or self.alice]

    def local(self) -> list[str]:
        """The same commands on the server's database directly, for comparison."""
        return ["--app", SERVER_APP, "--database-url", self.db_url]


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Remote]:
    """One API-only server for the module (starting one costs a second or two)."""
    tmp = tmp_path_factory.mktemp("remote")
    with serving(tmp, "--no-worker") as (url, auth, _proc):
        db_url = f"sqlite:///{tmp / 'serve.db'}"
        alice = auth["Authorization"].removeprefix("Bearer ")
        yield Remote(url, alice, make_key(db_url, "bob"), db_url)


def make_key(db_url: str, owner: str, *flags: str) -> str:
    """A new API key for ``owner`` in the server's database (``--admin`` among ``flags``)."""
    made = subprocess.run(
        [*COMMAND, "keys", "create", "--owner", owner, *flags],
        env={**Cli(db_url).env},
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return made.stdout.strip()


@pytest.fixture
def scope() -> str:
    """A scope of this test's own on the shared server."""
    return f"test:{uuid.uuid4().hex[:8]}"


def local_db(cli: Cli) -> Path:
    """The file the CLI would use without ``--url`` (it must never be created with it)."""
    return Path(cli.db_url.removeprefix("sqlite:///"))


async def scope_jobs(remote: Remote, scope: str) -> list[bb.Job]:
    """Alice's jobs in ``scope``, as the server reports them."""
    async with bb.AsyncClient(remote.url, remote.alice) as client:
        return (await client.list(scope=scope)).jobs


async def submit(remote: Remote, scope: str) -> str:
    """A queued chapter job for alice in ``scope`` (through the client: cheaper than a process)."""
    async with bb.AsyncClient(remote.url, remote.alice) as client:
        return (await client.submit("chapter", {"entry": "Dear diary"}, scope=scope)).id


async def delete(remote: Remote, *job_ids: str) -> None:
    """Leave nothing queued behind for the next test's burst worker."""
    async with bb.AsyncClient(remote.url, remote.alice) as client:
        for job_id in job_ids:
            await client.delete(job_id)


async def burst_worker(cli: Cli, remote: Remote) -> None:
    """Run every runnable job on the server's database, then return."""
    result = await cli("worker", SERVER_APP, "--burst", "--database-url", remote.db_url)
    assert result.code == 0, result.err


@pytest.mark.parametrize("mode", ["remote", "local"])
async def test_submit_wait_shows_progress_and_prints_the_output(
    cli: Cli, remote: Remote, scope: str, mode: str
) -> None:
    where = remote.args() if mode == "remote" else remote.local()
    entry = '{"entry": "Dear diary, the sea", "seconds": 1.5}'
    tty = {"TTY_COMPATIBLE": "1", "COLUMNS": "160"}  # rich redraws the board as on a terminal
    waiting = await cli.start(
        "submit", "chapter", "--input", entry, "--scope", scope, "--wait", *where, env=tty
    )

    async def submitted() -> bool:
        async with bb.Backburner(remote.db_url) as app:
            return bool((await app.list(scope=scope)).jobs)

    await eventually(submitted)  # a burst worker started earlier would find nothing to do
    await burst_worker(cli, remote)
    result = await cli.finish(waiting)

    assert result.code == 0, result.err
    assert result.json() == {"title": "Dear diary, "}
    async with bb.Backburner(remote.db_url) as app:
        [job] = (await app.list(scope=scope)).jobs
    assert job.owner == ("alice" if mode == "remote" else "default")
    assert f"submitted job {job.id}" in result.err
    for frame in ("running", "30%", "Crafting your chapter…", "succeeded", "100%"):
        assert frame in result.err
    assert mode == "local" or not local_db(cli).exists()


async def test_status_and_jobs_print_what_the_local_commands_print(
    cli: Cli, remote: Remote, scope: str
) -> None:
    first, second = await submit(remote, scope), await submit(remote, scope)

    shown: dict[str, Result] = {}
    for args in (["status", second], ["jobs", "--scope", scope], ["jobs", "--limit", "1"]):
        shown[args[0]] = over_http = await cli(*args, *remote.args())
        direct = await cli(*args, *remote.local())
        assert over_http.code == direct.code == 0, over_http.err
        assert (over_http.out, over_http.err) == (direct.out, direct.err)

    job = shown["status"].json()
    assert (job["id"], job["owner"], job["scope"], job["status"]) == (
        second,
        "alice",
        scope,
        "queued",
    )
    assert shown["jobs"].out.splitlines()[0].split()[:3] == ["id", "kind", "owner"]
    assert shown["jobs"].err == "showing the newest 1; raise --limit for more\n"
    assert second in shown["jobs"].out and first not in shown["jobs"].out
    await delete(remote, first, second)
    assert not local_db(cli).exists()


async def test_cancel_retry_delete_through_the_server(cli: Cli, remote: Remote, scope: str) -> None:
    job_id = await submit(remote, scope)

    canceled = await cli("cancel", job_id, *remote.args())
    again = await cli("cancel", job_id, *remote.args())
    retried = await cli("retry", job_id, *remote.args())
    refused = await cli("retry", job_id, *remote.args())
    deleted = await cli("delete", job_id, *remote.args())
    gone = await cli("status", job_id, *remote.args())

    assert (canceled.code, canceled.out) == (0, f"canceled job {job_id}\n")
    assert again.code == 2
    assert f"error: cannot cancel job {job_id}: it is already canceled" in again.err
    assert (retried.code, retried.out) == (0, f"job {job_id} is queued again\n")
    assert refused.code == 2
    assert "only failed or canceled jobs" in refused.err
    assert (deleted.code, deleted.out) == (0, f"deleted job {job_id}\n")
    assert (gone.code, gone.err) == (2, f"error: no job with id {job_id!r}\n")
    assert await scope_jobs(remote, scope) == []
    assert not local_db(cli).exists()


async def test_wait_ends_with_exit_1_on_cancel_or_timeout(
    cli: Cli, remote: Remote, scope: str
) -> None:
    job_id = await submit(remote, scope)

    timed_out = await cli("wait", job_id, "--timeout", "200ms", *remote.args())
    waiting = await cli.start("wait", job_id, *remote.args())
    canceled = await cli("cancel", job_id, *remote.args())
    result = await cli.finish(waiting)

    assert timed_out.code == 1
    assert f"error: job {job_id} is still queued after 0.2s\n" in timed_out.err
    assert canceled.code == 0, canceled.err
    assert result.code == 1
    assert result.out == ""
    assert f"error: job {job_id} canceled\n" in result.err
    await delete(remote, job_id)


async def test_another_owners_job_is_not_found(cli: Cli, remote: Remote, scope: str) -> None:
    job_id = await submit(remote, scope)

    for command in ("status", "wait", "cancel", "retry", "delete"):
        result = await cli(command, job_id, *remote.args(remote.bob))
        assert (result.code, result.out) == (2, ""), command
        assert result.err == f"error: no job with id {job_id!r}\n", command
    listed = await cli("jobs", "--scope", scope, *remote.args(remote.bob))
    alices = await cli("jobs", "--owner", "alice", *remote.args(remote.bob))

    assert (listed.code, listed.out, listed.err) == (0, "", "no jobs\n")
    assert (alices.code, alices.out) == (2, "")  # 403: only admin keys filter by owner
    assert alices.err == "error: owner: only admin keys may filter by owner\n"
    [job] = await scope_jobs(remote, scope)
    assert (job.id, job.status) == (job_id, "queued")
    await delete(remote, job_id)


@pytest.mark.parametrize(
    "args",
    [["status", "some-job"], ["jobs"], ["submit", "chapter"], ["delete", "some-job"]],
    ids=["status", "jobs", "submit", "delete"],
)
async def test_a_missing_key_is_a_usage_error(cli: Cli, remote: Remote, args: list[str]) -> None:
    result = await cli(*args, "--url", remote.url)

    assert result.code == 2
    assert result.err == (
        "error: --url needs an API key: pass --key KEY or set BACKBURNER_API_KEY\n"
    )
    assert not local_db(cli).exists()


async def test_a_wrong_key_prints_the_401_detail(cli: Cli, remote: Remote, scope: str) -> None:
    env = {"BACKBURNER_URL": remote.url, "BACKBURNER_API_KEY": "bb_wrong_key"}

    listed = await cli("jobs", env=env)
    submitted = await cli("submit", "chapter", "--scope", scope, env=env)

    for result in (listed, submitted):
        assert (result.code, result.out) == (2, "")
        assert result.err == f"{NOT_VALID}\n"
    assert await scope_jobs(remote, scope) == []
    assert not local_db(cli).exists()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["nope"], "unknown kind 'nope'"),
        (["chapter", "--owner", "bob"], "--owner: with --url the job belongs to the API key's"),
        (["chapter", "--input", "{nope"], "--input: not valid JSON"),
    ],
    ids=["unknown-kind", "owner", "bad-json"],
)
async def test_a_refused_submit_stores_nothing(
    cli: Cli, remote: Remote, scope: str, args: list[str], expected: str
) -> None:
    result = await cli("submit", *args, "--scope", scope, *remote.args())

    assert result.code == 2
    assert result.out == ""
    assert result.err.startswith("error: ")
    assert expected in result.err
    assert result.err.count("\n") == 1
    assert await scope_jobs(remote, scope) == []


@pytest.mark.parametrize(
    ("url", "code", "expected"),
    [
        ("http://127.0.0.1:{port}", 1, "error: cannot reach http://127.0.0.1:{port}: "),
        ("ftp://127.0.0.1:{port}", 2, "error: --url: must be an http:// or https:// address"),
    ],
    ids=["nothing-listening", "not-http"],
)
async def test_a_server_that_cannot_be_reached(
    cli: Cli, url: str, code: int, expected: str
) -> None:
    port = free_port()

    result = await cli("status", "some-job", "--url", url.format(port=port), "--key", "k")

    assert result.code == code
    assert result.err.startswith(expected.format(port=port))
    assert result.err.count("\n") == 1
    assert "Traceback" not in result.err


@pytest.fixture
def foreign_url(tmp_path: Path) -> Iterator[str]:
    """Another HTTP service on a loopback port: it answers with HTML error pages."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, "no http.server"
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.parametrize("args", [["status", "some-job"], ["jobs"]], ids=["status", "jobs"])
async def test_a_server_that_is_not_backburner(cli: Cli, foreign_url: str, args: list[str]) -> None:
    result = await cli(*args, "--url", foreign_url, "--key", "bb_some_key")

    assert (result.code, result.out) == (1, "")
    assert result.err == f"error: {foreign_url} did not answer like a backburner server\n"


async def test_a_key_that_cannot_be_sent_is_refused_without_echoing_it(
    cli: Cli, remote: Remote
) -> None:
    result = await cli("jobs", "--url", remote.url, "--key", "bb_secret\nvalue")

    assert (result.code, result.out) == (2, "")
    assert result.err == "error: --key: not an API key (one word of printable ASCII characters)\n"
    assert "secret" not in result.err


def check_help(command: str) -> Result:
    """``backburner COMMAND --help``, in-process (no database, no server)."""
    args = [*command.split(), "--help"]
    invoked = CliRunner().invoke(typer_app, args, env={"COLUMNS": "200"})
    return Result(invoked.exit_code, invoked.output, "")


@pytest.mark.parametrize(
    "command",
    [
        *("submit", "wait", "status", "jobs", "cancel", "retry", "delete"),
        *("credits grant", "credits adjust", "credits show"),
    ],
)
def test_every_job_command_takes_url_and_key(command: str) -> None:
    result = check_help(command)

    assert result.code == 0
    for text in ("--url", "BACKBURNER_URL", "--key", "BACKBURNER_API_KEY"):
        assert text in result.out


async def test_credits_through_the_server_admin_keys_change_them(cli: Cli, remote: Remote) -> None:
    admin = make_key(remote.db_url, "ops", "--admin")

    granted = await cli("credits", "grant", "alice", "10", "--note", "welcome", *remote.args(admin))
    adjusted = await cli("credits", "adjust", "alice", "-2.5", *remote.args(admin))
    over_http = await cli("credits", "show", "alice", *remote.args())  # alice's own key
    direct = await cli("credits", "show", "alice", "--database-url", remote.db_url)

    assert granted.code == 0, granted.err
    assert re.match(r"#\d+ \S+ \S+ grant +\+10  welcome\n", granted.out)
    assert granted.out.endswith("alice: balance 10, reserved 0, available 10\n")
    assert adjusted.code == 0, adjusted.err
    assert adjusted.out.endswith("alice: balance 7.5, reserved 0, available 7.5\n")
    assert over_http.code == direct.code == 0, over_http.err
    assert over_http.out == direct.out
    assert over_http.out.splitlines()[0] == "alice: balance 7.5, reserved 0, available 7.5"
    assert not local_db(cli).exists()


@pytest.mark.parametrize(
    ("args", "key", "expected"),
    [
        (["grant", "alice", "5"], None, "error: only admin keys grant credits\n"),
        (["show", "bob"], None, "error: owner: only admin keys name another owner\n"),
        (["adjust", "alice", "-1"], "bb_wrong_key", f"{NOT_VALID}\n"),
    ],
    ids=["grant-not-admin", "show-another-owner", "wrong-key"],
)
async def test_credits_a_key_may_not_touch_are_refused(
    cli: Cli, remote: Remote, args: list[str], key: str | None, expected: str
) -> None:
    result = await cli("credits", *args, *remote.args(key))

    assert (result.code, result.out, result.err) == (2, "", expected)
    async with bb.Backburner(remote.db_url) as app:
        assert await app.credits.entries("bob") == []
        assert [e.type for e in await app.credits.entries("alice")] in ([], ["adjustment", "grant"])
