"""The HTTP benchmark's load client, run by ``bench/http_service.py`` as a process of its own.

It reads one JSON spec on stdin (``{"figure": "submit" | "get" | "sse", "port": …, "key": …,
…}``) and prints one JSON result on stdout. It speaks HTTP/1.1 itself over asyncio streams,
with keep-alive, because the machine has two cores shared by the server and this client: a
full client library costs several times more CPU per request, which the server would lose.
It handles exactly what the server sends: ``Content-Length`` and chunked bodies.

Every loop is bounded by a count and a deadline.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any

__all__ = ["Http1", "main", "summary"]

HOST = "127.0.0.1"
_NOOP = json.dumps({"kind": "noop", "input": {}}).encode()
_WARMUP = 20  # requests before any timing: the server's first requests build caches


class Http1:
    """One keep-alive HTTP/1.1 connection to the server, authorised with an API key."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, key: str):
        self._reader = reader
        self._writer = writer
        self._headers = f"Host: {HOST}\r\nAuthorization: Bearer {key}\r\n"

    @classmethod
    async def connect(cls, port: int, key: str) -> Http1:
        reader, writer = await asyncio.open_connection(HOST, port, limit=1 << 20)
        return cls(reader, writer, key)

    def send(self, method: str, path: str, body: bytes | None = None) -> None:
        head = f"{method} {path} HTTP/1.1\r\n{self._headers}"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        self._writer.write(head.encode() + b"\r\n" + (body or b""))

    async def head(self) -> tuple[int, dict[str, str]]:
        """The status and the (lower-cased) headers of the next response."""
        raw = await self._reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name:
                headers[name.strip().lower()] = value.strip()
        return int(lines[0].split(" ", 2)[1]), headers

    async def chunks(self) -> AsyncIterator[bytes]:
        """The chunks of a chunked body, until the last (empty) one."""
        while True:
            size = int((await self._reader.readline()).split(b";", 1)[0], 16)
            data = await self._reader.readexactly(size + 2)
            if size == 0:
                return
            yield data[:-2]

    async def body(self, headers: dict[str, str]) -> bytes:
        if "content-length" in headers:
            return await self._reader.readexactly(int(headers["content-length"]))
        if headers.get("transfer-encoding") == "chunked":
            return b"".join([chunk async for chunk in self.chunks()])
        return b""

    async def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        self.send(method, path, body)
        status, headers = await self.head()
        return status, await self.body(headers)

    def close(self) -> None:
        self._writer.close()


# ── statistics ────────────────────────────────────────────────────────────────────────
def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0–1) by nearest rank: p99 of 100 values is the 99th smallest."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 1))
    return ordered[int(rank) - 1]


def summary(values: list[float]) -> dict[str, float]:
    """Count, p50, p99 and max of ``values`` (an empty dict when there are none)."""
    if not values:
        return {}
    return {
        "count": len(values),
        "p50": percentile(values, 0.5),
        "p99": percentile(values, 0.99),
        "max": max(values),
    }


async def _connections(spec: dict[str, Any], count: int) -> list[Http1]:
    return list(
        await asyncio.gather(*(Http1.connect(spec["port"], spec["key"]) for _ in range(count)))
    )


async def _timed(
    conns: list[Http1], step: Callable[[Http1], Awaitable[bool]], deadline: float
) -> dict[str, Any]:
    """Run ``step(conn)`` on every connection at once until it returns False or the deadline
    passes (a request still unanswered 30 s after it raises `TimeoutError`).

    Returns the wall time and each request's latency in ms.
    """
    latencies: list[float] = []

    async def loop(conn: Http1) -> None:
        while time.monotonic() < deadline:
            t0 = time.perf_counter()
            if not await step(conn):
                return
            latencies.append((time.perf_counter() - t0) * 1000)

    t0 = time.perf_counter()
    hard_stop = deadline + 30 - time.monotonic()
    await asyncio.wait_for(asyncio.gather(*(loop(c) for c in conns)), hard_stop)
    return {
        "elapsed_s": time.perf_counter() - t0,
        "latency_ms": summary(latencies),
    }


# ── figures ───────────────────────────────────────────────────────────────────────────
async def submit(spec: dict[str, Any]) -> dict[str, Any]:
    """``spec["submits"]`` no-op jobs over ``spec["concurrency"]`` connections."""
    conns = await _connections(spec, spec["concurrency"])
    for _ in range(_WARMUP):
        await conns[0].request("POST", "/v1/jobs", _NOOP)
    left = iter(range(spec["submits"]))  # shared: each request takes the next number
    ids: list[str] = []
    statuses: dict[int, int] = {}

    async def step(conn: Http1) -> bool:
        if next(left, None) is None:
            return False
        status, body = await conn.request("POST", "/v1/jobs", _NOOP)
        statuses[status] = statuses.get(status, 0) + 1
        if status == 202:
            ids.append(json.loads(body)["id"])
        return True

    result = await _timed(conns, step, time.monotonic() + spec["timeout_s"])
    for conn in conns:
        conn.close()
    result["timed_out"] = sum(statuses.values()) < spec["submits"]
    return {**result, "statuses": statuses, "ids": ids}


async def get(spec: dict[str, Any]) -> dict[str, Any]:
    """``GET /v1/jobs/{id}`` over ``spec["readers"]`` connections for ``spec["seconds"]``."""
    ids: list[str] = spec["ids"]
    conns = await _connections(spec, spec["readers"])
    for i in range(_WARMUP):
        await conns[0].request("GET", f"/v1/jobs/{ids[i % len(ids)]}")
    count = iter(range(spec["max_requests"]))
    statuses: dict[int, int] = {}

    async def step(conn: Http1) -> bool:
        n = next(count, None)
        if n is None:
            return False
        status, _ = await conn.request("GET", f"/v1/jobs/{ids[(n * 7919) % len(ids)]}")
        statuses[status] = statuses.get(status, 0) + 1
        return True

    result = await _timed(conns, step, time.monotonic() + spec["seconds"])
    for conn in conns:
        conn.close()
    return {**result, "statuses": statuses}


async def sse(spec: dict[str, Any]) -> dict[str, Any]:
    """One watcher per running ``ticker`` job; the delay of each progress event in ms.

    Delays are measured from the handler's clock before the write (in the message) and
    from the event's ``created_at`` (the database's clock at the insert) to the moment the
    frame was read here; the write delay is from the first to the second.
    """
    watchers, every, ticks = spec["watchers"], spec["every"], spec["ticks"]
    start_at = time.time() + spec["lead_s"]
    submitters = await _connections(spec, 8)
    ids: list[str] = []

    async def submit_some(conn: Http1, indexes: range) -> None:
        for i in indexes:
            inp = {"start_at": start_at, "phase": every * i / watchers, "every": every}
            body = json.dumps({"kind": "ticker", "input": {**inp, "ticks": ticks}}).encode()
            status, data = await conn.request("POST", "/v1/jobs", body)
            if status != 202:
                raise RuntimeError(f"submit answered {status}: {data[:300]!r}")
            ids.append(json.loads(data)["id"])

    await asyncio.gather(*(submit_some(c, range(k, watchers, 8)) for k, c in enumerate(submitters)))
    for conn in submitters:
        conn.close()
    deadline = time.monotonic() + spec["lead_s"] + every * (ticks + 1) + spec["slack_s"]
    found = SseResults()
    tasks = [asyncio.create_task(found.watch(spec, job_id)) for job_id in ids]
    done, pending = await asyncio.wait(tasks, timeout=max(0.0, deadline - time.monotonic()))
    for task in pending:
        task.cancel()
    errors = [repr(t.exception()) for t in done if t.exception() is not None]
    return {
        "start_at": start_at,
        "expected": watchers * ticks,
        "received": len(found.delays),
        "early": found.early,
        "last_connected_at": max(found.connected, default=None),
        "finished_streams": found.finished,
        "unfinished_streams": len(pending),
        "errors": errors[:5],
        "delay_ms": summary(found.delays),
        "db_delay_ms": summary(found.db_delays),
        "write_delay_ms": summary(found.write_delays),
    }


class SseResults:
    """What the watchers saw: each live progress event's delays, and how streams ended."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self.db_delays: list[float] = []
        self.write_delays: list[float] = []
        self.connected: list[float] = []
        self.early = 0  # progress events written before their watcher connected
        self.finished = 0  # streams that ended after the terminal event

    async def watch(self, spec: dict[str, Any], job_id: str) -> None:
        conn = await Http1.connect(spec["port"], spec["key"])
        try:
            sent = time.time()
            conn.send("GET", f"/v1/jobs/{job_id}/events")
            status, _ = await conn.head()
            if status != 200:
                raise RuntimeError(f"events answered {status}")
            self.connected.append(time.time())
            buffer = b""
            async for chunk in conn.chunks():
                now = time.time()
                buffer += chunk
                *frames, buffer = buffer.split(b"\n\n")
                for frame in frames:
                    self._record(frame, sent, now)
            self.finished += 1
        finally:
            conn.close()

    def _record(self, frame: bytes, sent: float, now: float) -> None:
        lines = frame.decode().split("\n")
        if "event: progress" not in lines:
            return
        data = json.loads(next(ln for ln in lines if ln.startswith("data: "))[6:])
        written = float(data["data"]["message"].removeprefix("t="))
        if written < sent:
            self.early += 1
            return
        self.delays.append((now - written) * 1000)
        created = datetime.fromisoformat(data["created_at"]).timestamp()
        self.db_delays.append((now - created) * 1000)
        self.write_delays.append((created - written) * 1000)


FIGURES = {"submit": submit, "get": get, "sse": sse}


def main() -> int:
    spec = json.load(sys.stdin)
    result = asyncio.run(FIGURES[spec["figure"]](spec))
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
