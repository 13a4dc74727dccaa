"""Internal: the processes of ``backburner serve`` — uvicorn in this process, or ``--processes
N`` API processes on one port, and ``--workers N`` worker processes beside them.

With ``--processes N`` (N > 1) this process only supervises. Each API process gets a listening
socket of its own on the same address (``SO_REUSEPORT``), made here before any of them starts:
the kernel spreads new connections over the sockets, so keep-alive connections opened together
land on different processes (with one shared socket, whichever process woke first would
accept a whole burst), a port in use is one clear error, and a replaced process takes over its
predecessor's socket, whose queue kept the connections that arrived meanwhile.

As with uvicorn's and gunicorn's own supervisors, an API process that dies after it started
serving is logged and replaced; one that fails to start stops everything (exit 1), because its
replacement would fail the same way. SIGTERM or SIGINT stops them all gracefully (each as a
single ``backburner serve`` stops on SIGTERM), then the worker processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import logging
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event

import uvicorn

from .api import create_api
from .app import Backburner
from .cli import _configure_logging
from .cli_backend import make_app
from .sockets import listen_socket

__all__ = ["ApiProcesses", "ServeSpec", "listen_sockets", "serve_api", "worker_processes"]

log = logging.getLogger(__name__)

#: How long a stopping API or worker process may take before it is killed.
STOP_S = 60.0
#: How often the supervisor looks at a stop request while no process has died.
_CHECK_S = 0.2
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class ServeSpec:
    """What every API process serves, and where."""

    app_path: str
    database_url: str
    host: str
    port: int
    log_level: str


async def serve_api(
    app: Backburner,
    spec: ServeSpec,
    *,
    run_worker: bool,
    sockets: list[socket.socket] | None = None,
    ready: Event | None = None,
) -> None:
    """Serve ``app``'s API with uvicorn until SIGTERM/SIGINT; on ``sockets`` if given (else
    it binds ``spec.host:spec.port``), setting ``ready`` once it serves."""
    api = create_api(app, run_worker=run_worker)
    config = uvicorn.Config(api, host=spec.host, port=spec.port, log_level=spec.log_level.lower())
    await _Server(config, ready).serve(sockets)


class _Server(uvicorn.Server):
    """uvicorn's server; once it serves, it freezes what exists (`gc.freeze`) and tells the
    supervisor (``ready``)."""

    def __init__(self, config: uvicorn.Config, ready: Event | None) -> None:
        super().__init__(config)
        self._ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if not self.started:
            return
        # What exists now (modules, the app, its routes) lives as long as the process: keep
        # it out of the collector's full passes, each of which walked all of it — over 100 ms
        # with every request waiting, the GET figure's maximum (docs/benchmarks.md, "HTTP").
        gc.freeze()
        if self._ready is not None:
            self._ready.set()


def listen_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """``count`` listening sockets on ``host:port`` sharing it by ``SO_REUSEPORT`` (port 0:
    the one the first is given); `OSError` when the address cannot be used."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sockets.append(listen_socket(host, port, share_port=True))
            port = sockets[-1].getsockname()[1]
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


@dataclass
class _Child:
    process: BaseProcess
    ready: Event
    sock: socket.socket


class ApiProcesses:
    """One API process per socket, supervised until SIGTERM/SIGINT; see the module docstring."""

    def __init__(self, spec: ServeSpec, sockets: list[socket.socket]) -> None:
        self._spec = spec
        self._sockets = sockets
        self._mp = multiprocessing.get_context("spawn")  # a fresh interpreter: no forked loop
        self._stop = threading.Event()
        self.children: list[_Child] = []

    def run(self) -> int:
        """Start the processes and keep them running; the exit code once they have stopped."""
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: self._stop.set())
        try:
            self.children = [self._start(sock) for sock in self._sockets]
            host, port = self._sockets[0].getsockname()[:2]
            pids = ", ".join(str(c.process.pid) for c in self.children)
            log.info("serving on http://%s:%s: API processes %s", host, port, pids)
            while not self._stop.is_set():
                wait([c.process.sentinel for c in self.children], _CHECK_S)
                if not self._replace_dead():
                    return 1
            return 0
        finally:
            self._stop_all()

    def _start(self, sock: socket.socket) -> _Child:
        ready = self._mp.Event()
        process = self._mp.Process(
            target=_api_process, args=(self._spec, sock, ready), name="bb-api", daemon=False
        )
        process.start()
        return _Child(process, ready, sock)

    def _replace_dead(self) -> bool:
        """Replace each process that died after it started serving; False if one never did."""
        for index, child in enumerate(self.children):
            code = child.process.exitcode
            if code is None or self._stop.is_set():
                continue
            if not child.ready.is_set():
                log.error("API process %s failed to start (exit code %s)", child.process.pid, code)
                return False
            log.error(
                "API process %s died (exit code %s); starting another", child.process.pid, code
            )
            self.children[index] = self._start(child.sock)
        return True

    def _stop_all(self) -> None:
        for child in self.children:
            if child.process.exitcode is None and child.process.pid is not None:
                os.kill(child.process.pid, signal.SIGTERM)
        for child in self.children:
            child.process.join(STOP_S)
            if child.process.exitcode is None:
                child.process.kill()
                child.process.join()


def _api_process(spec: ServeSpec, sock: socket.socket, ready: Event) -> None:
    """An API process: the app's API on ``sock``, without a worker."""
    _stop_with_parent()
    os.setpgrp()  # Ctrl-C reaches the supervisor only, which stops this process once
    _configure_logging(spec.log_level)
    app = make_app(spec.app_path, spec.database_url, needs_app=True)
    asyncio.run(serve_api(app, spec, run_worker=False, sockets=[sock], ready=ready))


def _stop_with_parent() -> None:
    """In a child: SIGTERM (a graceful stop) when its parent dies, however it dies.

    uvicorn re-raises the SIGTERM it handled once it has shut down, so the server may be gone
    before any cleanup of ours runs; Linux's parent-death signal covers that and SIGKILL too.
    """
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@contextlib.contextmanager
def worker_processes(
    app_path: str, count: int, database_url: str, log_level: str
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``count`` `backburner worker` processes for the server's lifetime, stopped gracefully."""
    env = {**os.environ, "BACKBURNER_DATABASE_URL": database_url}
    command = [sys.executable, "-m", "backburner.cli", "worker", app_path, "--log-level", log_level]
    procs = [
        # A process group of its own: Ctrl-C reaches the server only, which stops it once.
        subprocess.Popen(command, env=env, preexec_fn=_stop_with_parent, process_group=0)
        for _ in range(count)
    ]
    try:
        yield procs
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=STOP_S)
            except subprocess.TimeoutExpired:
                proc.kill()
