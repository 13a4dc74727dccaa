"""A real webhook receiver on a loopback port: records every request, answers as scripted."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Received:
    """One request as the receiver saw it: the raw body and the headers (lower-cased)."""

    path: str
    headers: dict[str, str]
    body: bytes
    at: float


class Receiver:
    """Answers each request with the next scripted status (then 200); ``"hang"`` holds the
    request open until `release` (or 60 s)."""

    def __init__(self, script: list[int | str]) -> None:
        self.script = list(script)
        self.received: list[Received] = []
        self.released = threading.Event()
        self._lock = threading.Lock()
        self.url = ""

    def next_answer(self, request: Received) -> int | str:
        with self._lock:
            self.received.append(request)
            return self.script.pop(0) if self.script else 200

    def release(self) -> None:
        """Let hanging requests go (they then answer 200)."""
        self.released.set()

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        """Block until ``count`` requests have arrived; return them all."""
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.received)} of {count} webhooks arrived")
            time.sleep(0.01)
        return list(self.received)

    async def arrived(self, count: int, timeout: float = 30.0) -> list[Received]:
        """`wait_for` without blocking the event loop (for async tests)."""
        return await asyncio.to_thread(self.wait_for, count, timeout)


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            answer = receiver.next_answer(Received(self.path, headers, body, time.time()))
            if answer == "hang":
                receiver.released.wait(60)
                answer = 200
            self.send_response(int(answer))
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    return Handler


@contextmanager
def receiving(script: list[int | str] | None = None) -> Iterator[Receiver]:
    """A `Receiver` serving on ``127.0.0.1`` for the block; ``receiver.url`` is its URL."""
    receiver = Receiver(script or [])
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.release()
        server.shutdown()
        server.server_close()
