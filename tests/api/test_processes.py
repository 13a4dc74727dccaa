"""``backburner serve --processes N``: several API processes on one port, supervised.

Which process answers a connection is read from ``/proc`` (the process holding the server
end of that TCP connection): the server exposes nothing for it.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.api.test_real_server import BIN, ROOT, _alive, free_port, serving

pytestmark = pytest.mark.slow

TWO = ("--processes", "2", "--no-worker")


def _children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False)
    return [int(p) for p in found.stdout.split()]


def _socket_owner(server_port: int, client_port: int, pids: list[int]) -> int | None:
    """The process among ``pids`` holding the server end of the loopback TCP connection
    from ``client_port``."""
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = (int(f.split(":")[1], 16) for f in fields[1:3])
        if (local, remote) == (server_port, client_port):
            inode = fields[9]
    for pid in pids:
        with contextlib.suppress(OSError):  # a process that has just ended
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) == f"socket:[{inode}]":
                        return pid
    return None


@contextlib.contextmanager
def _connections(url: str, count: int) -> Iterator[list[http.client.HTTPConnection]]:
    where = urlsplit(url)
    conns = [
        http.client.HTTPConnection(where.hostname or "", where.port, timeout=10)
        for _ in range(count)
    ]
    try:
        yield conns
    finally:
        for conn in conns:
            conn.close()


def _call(
    conn: http.client.HTTPConnection, method: str, path: str, auth: dict[str, str], body: Any = None
) -> tuple[int, Any]:
    headers = {**auth, "Content-Type": "application/json"}
    conn.request(method, path, None if body is None else json.dumps(body), headers)
    response = conn.getresponse()
    return response.status, json.loads(response.read() or b"null")


def _by_owner(
    url: str, auth: dict[str, str], conns: list[http.client.HTTPConnection], server: int
) -> dict[int, http.client.HTTPConnection]:
    """A connection per API process (a child of ``server``) that answered one."""
    owners: dict[int, http.client.HTTPConnection] = {}
    for conn in conns:
        status, _ = _call(conn, "GET", "/v1/kinds", auth)
        assert status == 200
        port, pids = urlsplit(url).port or 0, _children(server)
        owner = _socket_owner(port, conn.sock.getsockname()[1], pids)
        assert owner is not None, "no process holds the connection"
        owners.setdefault(owner, conn)
    return owners


def test_requests_are_spread_over_the_processes_and_sigterm_stops_them_all(
    tmp_path: Path,
) -> None:
    with serving(tmp_path, *TWO) as (url, auth, proc):
        children = _children(proc.pid)
        with _connections(url, 16) as conns:
            owners = _by_owner(url, auth, conns, proc.pid)
            status, job = _call(
                conns[0], "POST", "/v1/jobs", auth, {"kind": "chapter", "input": {}}
            )
            assert status == 202
            for conn in owners.values():  # every process reads what another one wrote
                assert _call(conn, "GET", f"/v1/jobs/{job['id']}", auth)[1]["id"] == job["id"]
        # 16 connections hashed over 2 sockets all land on one: a chance of 1 in 32,768.
        assert len(owners) == 2, owners
    assert proc.returncode == 0  # the serving helper sent SIGTERM and waited
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in children):
        assert time.monotonic() < deadline, "API processes outlived the server"
        time.sleep(0.05)


def test_an_event_written_through_one_process_reaches_a_stream_on_another(
    tmp_path: Path,
) -> None:
    with serving(tmp_path, *TWO) as (url, auth, proc), _connections(url, 16) as conns:
        (pid_a, writer), (pid_b, reader) = list(_by_owner(url, auth, conns, proc.pid).items())[:2]
        status, job = _call(writer, "POST", "/v1/jobs", auth, {"kind": "chapter", "input": {}})
        assert status == 202  # no worker: it stays queued until canceled below
        reader.request("GET", f"/v1/jobs/{job['id']}/events", headers=auth)
        stream = reader.getresponse()
        assert stream.status == 200
        first = _next_event(stream)
        assert first["data"] == {"status": "queued", "reason": "submitted"}
        assert _call(writer, "POST", f"/v1/jobs/{job['id']}/cancel", auth)[0] == 200
        second = _next_event(stream)  # written by process A, streamed by process B
        assert (second["seq"], second["data"]["status"]) == (2, "canceled")
        assert pid_a != pid_b


def _next_event(stream: http.client.HTTPResponse) -> dict[str, Any]:
    """The data of the next SSE frame (the socket's 10 s timeout bounds the wait)."""
    for _ in range(100):
        line = stream.readline().decode()
        if line.startswith("data: "):
            event: dict[str, Any] = json.loads(line.removeprefix("data: "))
            return event
    raise AssertionError("no event in 100 lines")


def test_an_api_process_that_dies_is_replaced(tmp_path: Path) -> None:
    with serving(tmp_path, *TWO) as (url, auth, proc):
        with _connections(url, 16) as conns:
            owners = _by_owner(url, auth, conns, proc.pid)
        victim = next(iter(owners))
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while True:  # the supervisor starts another; all of them answer again
            with _connections(url, 16) as conns:
                with contextlib.suppress(OSError, http.client.HTTPException):
                    after = _by_owner(url, auth, conns, proc.pid)
                    if len(after) == 2 and victim not in after:
                        break
            assert time.monotonic() < deadline, "no replacement answered"
            time.sleep(0.2)
        assert proc.poll() is None
    assert "died (exit code -9); starting another" in (tmp_path / "serve.log").read_text()


def test_an_api_process_that_cannot_start_stops_serve(tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("BACKBURNER_")},
        "BACKBURNER_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}",
    }
    command = [BIN, "serve", "tests.api.brokenchild:app", "--port", str(free_port()), *TWO]
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "failed to start" in done.stderr
    assert "this app cannot start in an API process" in done.stderr


def test_a_port_in_use_is_one_clear_error(tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("BACKBURNER_")},
        "BACKBURNER_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}",
    }
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        command = [BIN, "serve", "tests.api.serverapp:app", "--port", str(port), *TWO]
        done = subprocess.run(
            command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
        )
    assert done.returncode == 1
    assert f"error: cannot listen on 127.0.0.1:{port}: Address already in use" in done.stderr
