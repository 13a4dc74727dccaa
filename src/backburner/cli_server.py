"""CLI commands for the HTTP service: ``serve`` and ``keys``. Registered on `cli.cli`."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Annotated

import typer

from .app import Backburner
from .cli import AppArg, DatabaseUrlOpt, LogLevel, _configure_logging, cli, run

__all__ = ["keys_cli", "serve"]

keys_cli = typer.Typer(help="Manage API keys (only their hashes are stored).", no_args_is_help=True)
cli.add_typer(keys_cli, name="keys")


@cli.command()
def serve(
    app_path: AppArg,
    host: Annotated[str, typer.Option(envvar="BACKBURNER_HOST", help="interface")] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="BACKBURNER_PORT", help="TCP port")] = 8000,
    worker: Annotated[
        bool,
        typer.Option(
            "--worker/--no-worker",
            envvar="BACKBURNER_EMBEDDED_WORKER",
            help="run a worker inside the server (--no-worker for API-only nodes)",
        ),
    ] = True,
    workers: Annotated[
        int,
        typer.Option(
            envvar="BACKBURNER_WORKERS",
            min=0,
            help="run the worker as N separate processes instead of inside the server",
        ),
    ] = 0,
    log_level: LogLevel = "INFO",
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Serve the HTTP API (OpenAPI at /docs) with uvicorn, by default with a worker inside."""
    import uvicorn

    from .api import create_api

    _configure_logging(log_level)

    async def work(app: Backburner) -> None:
        api = create_api(app, run_worker=worker and not workers)
        config = uvicorn.Config(api, host=host, port=port, log_level=log_level.lower())
        with _worker_processes(app_path, workers, app.settings.database_url, log_level):
            await uvicorn.Server(config).serve()

    run(work, app_path=app_path, database_url=database_url, needs_app=True)


def _stop_with_parent() -> None:
    """In the child: SIGTERM (a graceful stop) when the server dies, however it dies.

    uvicorn re-raises the SIGTERM it handled once it has shut down, so the server may be gone
    before any cleanup of ours runs; Linux's parent-death signal covers that and SIGKILL too.
    """
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


_PR_SET_PDEATHSIG = 1


@contextlib.contextmanager
def _worker_processes(
    app_path: str, count: int, database_url: str, log_level: str
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``count`` `backburner worker` processes for the server's lifetime, stopped gracefully."""
    env = {**os.environ, "BACKBURNER_DATABASE_URL": database_url}
    command = [sys.executable, "-m", "backburner.cli", "worker", app_path, "--log-level", log_level]
    procs = [subprocess.Popen(command, env=env, preexec_fn=_stop_with_parent) for _ in range(count)]
    try:
        yield procs
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()


@keys_cli.command("create")
def keys_create(
    owner: Annotated[str, typer.Option(help="the owner the key acts as")],
    admin: Annotated[bool, typer.Option(help="see and act on every owner's jobs")] = False,
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Create an API key and print it once; only its hash is stored."""

    async def work(app: Backburner) -> None:
        key_id, key = await app.create_api_key(owner, admin=admin)
        typer.echo(f"key id {key_id} for owner {owner!r}{' (admin)' if admin else ''}", err=True)
        typer.echo(key)

    run(work, database_url=database_url)


@keys_cli.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(metavar="KEY_ID", help="the id printed at creation")],
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Revoke an API key: requests with it answer 401 from now on."""

    async def work(app: Backburner) -> None:
        await app.revoke_api_key(key_id)
        typer.echo(f"revoked key {key_id}")

    run(work, database_url=database_url)
