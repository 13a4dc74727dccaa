"""Helpers for the multi-node test on PostgreSQL (`test_multinode_pg`): API-only
``backburner serve`` processes, submitting through them over HTTP while the database
restarts, and restarting the database while watching the nodes' ``/readyz``."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from tests.acceptance.conftest import APP, BACKBURNER, PATIENCE, ROOT
from tests.api.test_real_server import free_port
from tests.conftest import POSTGRES_URL, eventually

__all__ = [
    "SLOW",
    "ApiNode",
    "Chaos",
    "api_nodes",
    "restart_command",
    "restart_postgres",
    "submit",
    "wait_ready",
]

#: How long anything that should take seconds may take on a loaded machine.
SLOW = 120.0


@dataclass
class ApiNode:
    """One ``backburner serve --no-worker`` process."""

    proc: subprocess.Popen[bytes]
    url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        """SIGTERM, wait (SIGKILL after 20 s); the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(timeout=10)


@dataclass
class Chaos:
    """What the test did to the system mid-run, and what it saw."""

    killed_pid: int = 0
    killed_at_ns: int = 0
    #: The jobs the killed worker held.
    held: set[str] = field(default_factory=set)
    #: Status codes each API node's ``/readyz`` gave during the restart (0: no answer).
    readyz: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    #: The last code each node's ``/readyz`` gave.
    last_readyz: dict[str, int] = field(default_factory=dict)
    restart_s: float = 0.0
    #: Submits answered 5xx or not at all, then repeated with the same Idempotency-Key.
    resubmits: Counter[str] = field(default_factory=Counter)
    #: Seconds from the start of the test to each phase's end, by phase.
    phases: dict[str, float] = field(default_factory=dict)
    began: float = field(default_factory=time.monotonic)

    def mark(self, phase: str) -> None:
        """Note that ``phase`` ended now."""
        self.phases[phase] = round(time.monotonic() - self.began, 1)


def restart_command() -> list[str]:
    """The command that restarts the PostgreSQL server under test (it must be this machine's);
    the test is skipped without one (failed in CI)."""
    host = sa.make_url(POSTGRES_URL).host
    clusters = sorted(os.listdir("/etc/postgresql")) if os.path.isdir("/etc/postgresql") else []
    if host not in ("127.0.0.1", "localhost") or not shutil.which("pg_ctlcluster") or not clusters:
        reason = f"cannot restart the PostgreSQL at {POSTGRES_URL} (not a local pg_ctlcluster)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return ["pg_ctlcluster", "--skip-systemctl-redirect", clusters[-1], "main", "restart"]


@contextlib.contextmanager
def api_nodes(tmp_path: Path, db_url: str, names: str = "ab") -> Iterator[list[ApiNode]]:
    """API-only nodes on ``db_url``, one per letter of ``names``, ready; stopped at exit."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKBURNER_")}
    env |= {"BACKBURNER_DATABASE_URL": db_url, "BACKBURNER_LOG_LEVEL": "INFO"}
    nodes: list[ApiNode] = []
    try:
        for name in names:
            port = free_port()
            log_path = tmp_path / f"api-{name}.log"
            with log_path.open("wb") as log:
                proc = subprocess.Popen(
                    [BACKBURNER, "serve", APP, "--port", str(port), "--no-worker"],
                    cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log,
                    stderr=subprocess.STDOUT,
                )  # fmt: skip
            nodes.append(ApiNode(proc, f"http://127.0.0.1:{port}", log_path))
        for node in nodes:
            wait_ready(node)
        yield nodes
    finally:
        for node in nodes:
            node.stop()


def wait_ready(node: ApiNode) -> None:
    """Wait until the node answers ``/readyz`` with 200 (failing if it exits first)."""
    deadline = time.monotonic() + PATIENCE
    while True:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{node.url}/readyz", timeout=2).status_code == 200:
                return
        assert node.proc.poll() is None, node.log()
        assert time.monotonic() < deadline, f"API node not ready:\n{node.log()[-3000:]}"
        time.sleep(0.05)


async def submit(
    client: httpx.AsyncClient,
    url: str,
    auth: dict[str, str],
    body: dict[str, Any],
    key: str,
    chaos: Chaos,
) -> str:
    """Submit once, repeating with the same Idempotency-Key while the node answers 5xx or
    not at all (the database restarting); the job's id."""
    deadline = time.monotonic() + SLOW
    while True:
        try:
            made = await client.post(
                f"{url}/v1/jobs", json=body, headers={**auth, "Idempotency-Key": key}
            )
            if made.status_code < 500:
                assert made.status_code == 202, made.text
                return str(made.json()["id"])
            chaos.resubmits[str(made.status_code)] += 1
        except httpx.TransportError as exc:
            chaos.resubmits[type(exc).__name__] += 1
        assert time.monotonic() < deadline, f"submit {key} kept failing"
        await asyncio.sleep(0.1)


async def restart_postgres(argv: list[str], nodes: list[ApiNode], chaos: Chaos) -> None:
    """Restart the server while watching each node's ``/readyz``; return once it accepts
    connections again and both nodes say they are ready."""
    done = asyncio.Event()

    async def watch(node: ApiNode) -> None:
        async with httpx.AsyncClient(timeout=5) as client:
            while not done.is_set():
                try:
                    code = (await client.get(f"{node.url}/readyz")).status_code
                except httpx.TransportError:
                    code = 0
                chaos.readyz[node.url][code] += 1
                chaos.last_readyz[node.url] = code
                await asyncio.sleep(0.01)

    watchers = [asyncio.create_task(watch(node)) for node in nodes]
    began = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(proc.communicate(), SLOW)
    assert proc.returncode == 0, out.decode(errors="replace")
    await eventually(pg_isready, timeout=PATIENCE, interval=0.1)
    chaos.restart_s = time.monotonic() - began

    async def all_ready() -> bool:
        return all(chaos.last_readyz.get(n.url) == 200 for n in nodes)

    try:
        await eventually(all_ready, timeout=PATIENCE, interval=0.1)
    finally:
        done.set()
        await asyncio.gather(*watchers)


async def pg_isready() -> bool:
    """Whether the server under test accepts connections (``pg_isready``)."""
    url = sa.make_url(POSTGRES_URL)
    proc = await asyncio.create_subprocess_exec(
        "pg_isready", "-h", url.host or "127.0.0.1", "-p", str(url.port or 5432), "-t", "2",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    return await proc.wait() == 0
