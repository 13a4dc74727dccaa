"""Internal: running the fake provider — on a thread for tests, in the foreground for the CLI."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from ..providers.base import ProviderConfig
from ..sockets import listen_socket
from .app import create_fake_app
from .knobs import FakeRequest, FakeState, Knobs

__all__ = ["FakeProvider", "serve_fake_provider", "start_fake_provider"]

_START_TIMEOUT_S = 10.0


class FakeProvider:
    """A fake provider running on a loopback port (see `start_fake_provider`).

    ```python
    with start_fake_provider(seed=7) as fake:
        chat = ChatProvider(fake.config(timeout_s=2))
        fake.set_knobs(fail_next=[503, 429])
        ...
        assert fake.requests[-1].status == 200
    ```
    """

    def __init__(self, state: FakeState, host: str, port: int) -> None:
        self._state = state
        #: The address it listens on.
        self.host = host
        #: The port it listens on.
        self.port = port

    @property
    def origin(self) -> str:
        """``http://host:port``."""
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """The API's base URL (``http://host:port/v1``): a provider's ``base_url``."""
        return f"{self.origin}/v1"

    @property
    def knobs(self) -> Knobs:
        """The knobs in force."""
        return self._state.knobs

    def set_knobs(self, **changes: Any) -> Knobs:
        """Change knobs while it runs: ``fake.set_knobs(error_rate=0.5, fail_next=[429])``."""
        return self._state.set_knobs(**changes)

    def reset(self, **knobs: Any) -> Knobs:
        """Start over as if just started with ``knobs`` (the rest at their defaults): the
        request log, predictions and fault sequence too. Cheaper than a new server."""
        fresh = Knobs(**knobs)
        self._state.reset(fresh)
        return fresh

    @property
    def requests(self) -> list[FakeRequest]:
        """Every provider request it has seen (not ``/_fake``), oldest first."""
        return self._state.requests()

    def count(self, method: str | None = None, path: str = "") -> int:
        """How many requests it has seen with that method and a path starting with ``path``
        (relative to ``/v1``, e.g. ``"chat/completions"``)."""
        prefix = f"/v1/{path.lstrip('/')}" if path else ""
        return sum(
            1 for r in self.requests if r.path.startswith(prefix) and method in (None, r.method)
        )

    @property
    def predictions(self) -> dict[str, str]:
        """Each prediction's status by id (``canceled`` once a client canceled it)."""
        return self._state.prediction_statuses()

    def config(self, **overrides: Any) -> ProviderConfig:
        """A `ProviderConfig` for this fake (its URL and ``api_key`` knob), with overrides."""
        values: dict[str, Any] = {"base_url": self.url, "api_key": self.knobs.api_key}
        return ProviderConfig(**{**values, **overrides})


@contextmanager
def start_fake_provider(
    *, host: str = "127.0.0.1", port: int = 0, **knobs: Any
) -> Iterator[FakeProvider]:
    """Run a fake provider on a thread while the block runs; ``port=0`` picks a free port.

    ``knobs`` are `Knobs` fields (``seed``, ``latency_s``, ``error_rate`` …). On exit the
    server stops; requests left hanging are answered 504.
    """
    state = FakeState(Knobs(**knobs))
    sock = listen_socket(host, port)
    server = uvicorn.Server(_config(state))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="fake-provider", daemon=True
    )
    thread.start()
    try:
        _wait_started(server, thread)
        yield FakeProvider(state, host, sock.getsockname()[1])
    finally:
        state.stopping.set()
        server.should_exit = True
        thread.join(_START_TIMEOUT_S)
        sock.close()


def serve_fake_provider(
    knobs: Knobs,
    *,
    host: str = "127.0.0.1",
    port: int = 8900,
    on_ready: Callable[[FakeProvider], None] | None = None,
) -> None:
    """Run a fake provider in the foreground until SIGINT/SIGTERM (``backburner
    fake-provider``); ``on_ready`` is called once the port is bound."""
    state = FakeState(knobs)
    sock = listen_socket(host, port)
    try:
        if on_ready is not None:
            on_ready(FakeProvider(state, host, sock.getsockname()[1]))
        uvicorn.Server(_config(state)).run(sockets=[sock])
    finally:
        state.stopping.set()
        sock.close()


def _config(state: FakeState) -> uvicorn.Config:
    # Plain asyncio (not uvloop) and no lifespan: it runs on a thread inside someone's tests.
    return uvicorn.Config(
        create_fake_app(state),
        loop="asyncio",
        lifespan="off",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=2,
    )


def _wait_started(server: uvicorn.Server, thread: threading.Thread) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_S
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the fake provider's server stopped while starting")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the fake provider did not start within {_START_TIMEOUT_S:g}s")
        time.sleep(0.005)
