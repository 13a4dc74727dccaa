"""CLI commands for the HTTP service: ``serve`` and ``keys``. Registered on `cli.cli`."""

from __future__ import annotations

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
    log_level: LogLevel = "INFO",
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Serve the HTTP API (OpenAPI at /docs) with uvicorn, by default with a worker inside."""
    import uvicorn

    from .api import create_api

    _configure_logging(log_level)

    async def work(app: Backburner) -> None:
        config = uvicorn.Config(
            create_api(app, run_worker=worker), host=host, port=port, log_level=log_level.lower()
        )
        await uvicorn.Server(config).serve()

    run(work, app_path=app_path, database_url=database_url, needs_app=True)


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
