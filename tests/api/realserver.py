"""Helpers for suites that share one real `backburner serve` process per module (see
`tests.api.test_real_server.serving`): keys on its database, jobs in a known state, a
read-only snapshot of every table, and Server-Sent Events read off the wire.

```python
with serving(tmp, env=ENV) as (url, auth, _proc):
    server = RealServer.start(url, tmp, auth, make_keys(tmp / "serve.db", "bob"))
    server.jobs["done"] = job_in_state(server, "alice", body, "succeeded")
    before = settle(server)            # the worker is idle, the database still
```
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import h11
import httpx

import backburner as bb

__all__ = [
    "RealServer",
    "Snapshot",
    "assert_clean",
    "job_in_state",
    "make_keys",
    "query",
    "raw_post",
    "read_sse",
    "settle",
    "snapshot",
]

#: Every table's rows, by table name.
Snapshot = dict[str, list[tuple[Any, ...]]]


@dataclass
class RealServer:
    """A running server: its URL, database file, keys by name and jobs by label."""

    url: str
    db: Path
    keys: dict[str, str]
    jobs: dict[str, str] = field(default_factory=dict)
    #: Jobs allowed to stay queued or running while the database settles.
    pinned: set[str] = field(default_factory=set)
    #: A client of the server, made with it.
    http: httpx.Client = field(init=False)

    def auth(self, who: str | None) -> dict[str, str]:
        """The ``Authorization`` header of the key called ``who`` (none for ``None``)."""
        return {} if who is None else {"Authorization": f"Bearer {self.keys[who]}"}

    def fill(self, text: str) -> str:
        """``text`` with ``{label}`` replaced by that job's id and ``{key:name}`` by that key."""
        for label, job_id in self.jobs.items():
            text = text.replace(f"{{{label}}}", job_id)
        for name, key in self.keys.items():
            text = text.replace(f"{{key:{name}}}", key)
        return text

    def __post_init__(self) -> None:
        # One client (making one costs tens of ms), without keep-alive: a connection the
        # server drops after an error (as uvicorn does after a 500) must not fail the next.
        limits = httpx.Limits(max_keepalive_connections=0)
        self.http = httpx.Client(base_url=self.url, timeout=20, limits=limits)

    def close(self) -> None:
        """Close the client."""
        self.http.close()


def make_keys(
    db: Path, *owners: str, admin: str | None = None, revoked: str | None = None
) -> dict[str, str]:
    """API keys made on the server's database file, by name: one per owner, maybe an admin's
    (named ``admin``, an owner of that name) and a revoked one. In-process: the CLI would
    take a second per key."""

    async def make() -> dict[str, str]:
        async with bb.Backburner(settings=bb.Settings(database_url=f"sqlite:///{db}")) as app:
            made = {owner: (await app.create_api_key(owner))[1] for owner in owners}
            if admin is not None:
                made[admin] = (await app.create_api_key(admin, admin=True))[1]
            if revoked is not None:
                key_id, made[revoked] = await app.create_api_key(revoked)
                await app.revoke_api_key(key_id)
            return made

    return asyncio.run(make())


def job_in_state(server: RealServer, who: str, body: dict[str, Any], status: str) -> str:
    """Submit ``body`` as ``who`` and wait (≤ 30 s) until the job is ``status`` — when
    ``running``, with its progress reported too; its id. A job left active is pinned."""
    made = server.http.post("/v1/jobs", json=body, headers=server.auth(who))
    assert made.status_code == 202, made.text
    job_id: str = made.json()["id"]
    deadline = time.monotonic() + 30
    while True:
        job = server.http.get(f"/v1/jobs/{job_id}", headers=server.auth(who)).json()
        if job["status"] == status and (status != "running" or job["progress"] is not None):
            break
        assert time.monotonic() < deadline, job
        time.sleep(0.02)
    if status in ("queued", "running"):
        server.pinned.add(job_id)
    return job_id


def _read_only(db: Path) -> contextlib.closing[sqlite3.Connection]:
    return contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True))


def query(db: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Rows of one read-only query."""
    with _read_only(db) as conn:
        return conn.execute(sql, params).fetchall()


def snapshot(db: Path) -> Snapshot:
    """Every row of every table (``sqlite_sequence`` and ``alembic_version`` too), read-only,
    in a stable order."""
    with _read_only(db) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {
            name: sorted(conn.execute(f'SELECT * FROM "{name}"').fetchall(), key=repr)
            for name in sorted(names)
        }


def settle(server: RealServer) -> Snapshot:
    """The database once the worker is idle: only pinned jobs active and two reads in a row
    alike (≤ 15 s)."""
    deadline = time.monotonic() + 15
    last = snapshot(server.db)
    while True:
        time.sleep(0.03)
        now = snapshot(server.db)
        active = {
            row[0]
            for row in query(server.db, "SELECT id FROM jobs WHERE status IN ('queued', 'running')")
        }
        if now == last and active == server.pinned:
            return now
        assert time.monotonic() < deadline, f"the database did not settle; active: {active}"
        last = now


def assert_clean(response: httpx.Response, secrets: list[str]) -> None:
    """No traceback and none of ``secrets`` (keys, the tick secret, what was sent) in it."""
    text = response.text
    assert "Traceback" not in text and 'File "' not in text, text
    for secret in secrets:
        assert len(secret) < 8 or secret not in text, f"{secret[:8]}… echoed: {text[:300]}"


def raw_post(server: RealServer, head: list[tuple[str, str]], part: bytes) -> httpx.Response:
    """``POST /v1/jobs`` over a bare socket with these headers, sending only ``part`` of the
    body they declare: for answers that must come before the rest is ever sent."""
    where = urlsplit(server.url)
    conn = h11.Connection(h11.CLIENT)
    request = h11.Request(method="POST", target="/v1/jobs", headers=[("Host", where.netloc), *head])
    with socket.create_connection((where.hostname, where.port or 80), timeout=10) as sock:
        sock.sendall((conn.send(request) or b"") + (conn.send(h11.Data(data=part)) or b""))
        status, headers, content = 0, list[tuple[str, str]](), b""
        for _ in range(10_000):
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(sock.recv(65536))
            elif isinstance(event, h11.Response):
                status = event.status_code
                headers = [(k.decode(), v.decode()) for k, v in event.headers]
            elif isinstance(event, h11.Data):
                content += event.data
            elif isinstance(event, h11.EndOfMessage):
                return httpx.Response(status, headers=headers, content=content)
    raise AssertionError("no complete response")


def read_sse(
    client: httpx.Client, path: str, headers: dict[str, str], last_id: int
) -> list[tuple[int, dict[str, Any]]]:
    """``(id, data)`` of each event of a stream until the one with id ``last_id``; a stream
    quiet for 5 s first fails (on the read timeout), and at most 10,000 lines are read."""
    frames: list[tuple[int, dict[str, Any]]] = []
    event_id = 0
    # A read timeout shorter than the 15 s keep-alive ping: a stream gone quiet fails soon.
    with client.stream("GET", path, headers=headers, timeout=5) as response:
        assert response.status_code == 200, response.read()
        for _, line in zip(range(10_000), response.iter_lines(), strict=False):
            if line.startswith("id: "):
                event_id = int(line.removeprefix("id: "))
            elif line.startswith("data: "):
                frames.append((event_id, json.loads(line.removeprefix("data: "))))
                if event_id >= last_id:
                    return frames
    raise AssertionError(f"the stream ended before event {last_id}: {frames}")
