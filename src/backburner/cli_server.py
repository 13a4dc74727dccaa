"""CLI commands for the HTTP service: ``serve`` and ``keys``. Registered on `cli.cli`."""

from __future__ import annotations

from typing import Annotated

import typer

from .app import Backburner
from .cli import AppArg, DatabaseUrlOpt, LogLevel, _configure_logging, cli, fail, run

__all__ = ["keys_cli", "serve"]

keys_cli = typer.Typer(help="Manage API keys (only their hashes are stored).", no_args_is_help=True)
cli.add_typer(keys_cli, name="keys")


@cli.command()
def serve(
    app_path: AppArg,
    host: Annotated[str, typer.Option(envvar="BACKBURNER_HOST", help="interface")] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="BACKBURNER_PORT", help="TCP port")] = 8000,
    processes: Annotated[
        int,
        typer.Option(
            envvar="BACKBURNER_PROCESSES",
            min=1,
            help="API processes sharing the port (above 1, the worker runs in a process of "
            "its own, as with --workers 1)",
        ),
    ] = 1,
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
    from .cli_serving import ServeSpec, serve_api, worker_processes  # uvicorn: 0.1 s to import

    _configure_logging(log_level)
    if processes > 1:
        # One embedded worker, not one per API process: a process of its own.
        worker_count = workers or (1 if worker else 0)
        raise typer.Exit(
            _serve_processes(app_path, processes, worker_count, log_level, host, port, database_url)
        )

    async def work(app: Backburner) -> None:
        spec = ServeSpec(app_path, app.settings.database_url, host, port, log_level)
        with worker_processes(app_path, workers, spec.database_url, log_level):
            await serve_api(app, spec, run_worker=worker and not workers)

    run(work, app_path=app_path, database_url=database_url, needs_app=True)


def _serve_processes(
    app_path: str,
    processes: int,
    workers: int,
    log_level: str,
    host: str,
    port: int,
    database_url: str | None,
) -> int:
    """``--processes N``: migrate once here, then N API processes and the worker processes."""
    from .cli_serving import ApiProcesses, ServeSpec, listen_sockets, worker_processes

    specs: list[ServeSpec] = []

    async def prepare(app: Backburner) -> None:
        await app.open()  # migrated once, before the API processes open it together
        specs.append(ServeSpec(app_path, app.settings.database_url, host, port, log_level))

    run(prepare, app_path=app_path, database_url=database_url, needs_app=True)
    try:
        sockets = listen_sockets(host, port, processes)
    except OSError as exc:
        raise fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}", 1) from None
    with worker_processes(app_path, workers, specs[0].database_url, log_level):
        return ApiProcesses(specs[0], sockets).run()


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
