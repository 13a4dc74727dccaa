"""Against a real `backburner serve` process on a loopback port."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from backburner.webhooks import verify
from tests.receiver import receiving

pytestmark = pytest.mark.slow

ROOT = Path(__file__).parents[2]
BIN = Path(sys.executable).parent / "backburner"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    with serving(tmp_path) as running:
        yield running[0], running[1]


@contextlib.contextmanager
def serving(
    tmp_path: Path,
    *extra: str,
    env: Mapping[str, str] | None = None,
    app: str = "tests.api.serverapp:app",
) -> Iterator[tuple[str, dict[str, str], subprocess.Popen[bytes]]]:
    """A `backburner serve` process on a free loopback port: (url, auth headers, process).

    ``env`` adds ``BACKBURNER_*`` settings (a rate limit, a tick secret …) for the server and
    the key it makes; the database is always ``tmp_path / 'serve.db'``. ``app`` is the
    ``module:attribute`` it serves.
    """
    environ = {
        **{k: v for k, v in os.environ.items() if not k.startswith("BACKBURNER_")},
        **(env or {}),
        "BACKBURNER_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}",
    }
    made = subprocess.run(
        [BIN, "keys", "create", "--owner", "alice"],
        env=environ, cwd=ROOT, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    key = made.stdout.strip()
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        [BIN, "serve", app, "--port", str(port), *extra],
        env=environ, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, "server did not become ready"
            time.sleep(0.05)
        yield url, {"Authorization": f"Bearer {key}"}, proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_submit_wait_and_read_through_a_real_server(server: tuple[str, dict[str, str]]) -> None:
    url, auth = server
    body = {"kind": "chapter", "input": {"entry": "Dear diary, the sea"}}
    finished = httpx.post(
        f"{url}/v1/jobs", json=body, headers={**auth, "Prefer": "wait=30"}, timeout=40
    )
    assert finished.status_code == 200, finished.text
    assert finished.json()["output"] == {"title": "Dear diary, "}
    assert httpx.get(f"{url}/openapi.json").json()["info"]["title"] == "backburner"
    assert httpx.get(f"{url}/v1/jobs", headers=auth).json()["jobs"][0]["status"] == "succeeded"


def test_a_client_that_disconnects_mid_wait_does_not_stop_the_job(
    server: tuple[str, dict[str, str]],
) -> None:
    url, auth = server
    body = {"kind": "chapter", "input": {"entry": "closing the tab", "seconds": 2}}
    with pytest.raises(httpx.ReadTimeout):  # the browser gives up (the tab closes)
        httpx.post(f"{url}/v1/jobs", json=body, headers={**auth, "Prefer": "wait=30"}, timeout=0.5)
    deadline = time.monotonic() + 30
    while True:
        jobs = httpx.get(f"{url}/v1/jobs", headers=auth).json()["jobs"]
        if jobs and jobs[0]["status"] == "succeeded":
            break
        assert time.monotonic() < deadline, jobs
        time.sleep(0.1)
    assert jobs[0]["output"] == {"title": "closing the "}


def test_workers_run_as_separate_processes_and_stop_with_the_server(tmp_path: Path) -> None:
    with serving(tmp_path, "--workers", "2") as (url, auth, proc):
        children = subprocess.run(
            ["pgrep", "-P", str(proc.pid)], capture_output=True, text=True, check=False
        ).stdout.split()
        assert len(children) == 2
        body = {"kind": "chapter", "input": {"entry": "two workers"}}
        done = httpx.post(
            f"{url}/v1/jobs", json=body, headers={**auth, "Prefer": "wait=30"}, timeout=40
        )
        assert done.status_code == 200, done.text
        worker = done.json()
    assert worker["status"] == "succeeded"
    deadline = time.monotonic() + 30  # SIGTERM to the server stops its workers too
    while any(_alive(int(pid)) for pid in children):
        assert time.monotonic() < deadline, "worker processes outlived the server"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_webhook_reaches_a_receiver_that_fails_twice_signed_every_time(tmp_path: Path) -> None:
    hooks = {"BACKBURNER_WEBHOOK_ALLOW": "127.0.0.0/8", "BACKBURNER_WEBHOOK_RETRIES": "200ms,200ms"}
    with receiving([500, 502]) as receiver, serving(tmp_path, env=hooks) as (url, auth, _):
        body = {"kind": "chapter", "input": {"entry": "hooked"}, "webhook": {"url": receiver.url}}
        job = httpx.post(f"{url}/v1/jobs", json=body, headers=auth).json()
        sent = receiver.wait_for(3)
        secret = httpx.get(f"{url}/v1/webhooks/secret", headers=auth).json()["secret"]
        listed = _deliveries_when_settled(url, auth, job["id"])
    assert [(d["attempts"], d["last_status_code"]) for d in listed] == [(3, 200)]
    assert len({r.headers["webhook-id"] for r in sent}) == 1
    for request in sent:
        event = verify(request.body, request.headers, secret)
        assert (event["type"], event["data"]["id"]) == ("job.succeeded", job["id"])
        assert event["data"]["output"] == {"title": "hooked"}


def _deliveries_when_settled(url: str, auth: dict[str, str], job_id: str) -> list[dict[str, Any]]:
    """The job's webhook deliveries once none is pending."""
    deadline = time.monotonic() + 30
    while True:
        listed: list[dict[str, Any]] = httpx.get(
            f"{url}/v1/jobs/{job_id}/webhooks", headers=auth
        ).json()
        if listed and all(d["status"] != "pending" for d in listed):
            return listed
        assert time.monotonic() < deadline, listed
        time.sleep(0.05)


def test_an_sse_stream_resumes_after_a_drop_with_last_event_id(
    server: tuple[str, dict[str, str]],
) -> None:
    url, auth = server
    body = {"kind": "chapter", "input": {"entry": "resume me", "seconds": 1.5}}
    job_id = httpx.post(f"{url}/v1/jobs", json=body, headers=auth).json()["id"]
    stream = f"{url}/v1/jobs/{job_id}/events"
    first = _sse_ids(stream, auth, stop_after=2)  # then the connection drops
    assert first == [1, 2]
    status = httpx.get(f"{url}/v1/jobs/{job_id}", headers=auth).json()["status"]
    assert status in ("queued", "running")  # dropped while the job still runs
    rest = _sse_ids(stream, {**auth, "Last-Event-ID": str(first[-1])})
    assert rest == list(range(3, rest[-1] + 1)) and len(rest) >= 2  # no gap, no repeat
    ended = httpx.get(f"{url}/v1/jobs/{job_id}", headers=auth).json()
    assert ended["status"] == "succeeded"
    again = httpx.get(stream, headers={**auth, "Last-Event-ID": str(rest[-1])})
    assert again.status_code == 204  # finished, nothing after: EventSource stops


def _sse_ids(url: str, headers: dict[str, str], stop_after: int = 100) -> list[int]:
    """The ``id:`` of each event read, until the stream ends or ``stop_after`` events."""
    ids: list[int] = []
    with httpx.stream("GET", url, headers=headers, timeout=30) as response:
        assert response.status_code == 200, response.read()
        for line in response.iter_lines():
            if line.startswith("id:"):
                ids.append(int(line.removeprefix("id:").strip()))
                if len(ids) >= stop_after:
                    break
    return ids
