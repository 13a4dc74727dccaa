"""The ``backburner`` command: run workers, submit and watch jobs, manage the database.

Every option has a ``BACKBURNER_*`` twin, shown in ``--help``. ``APP`` is ``module:attribute``
(for example ``examples.demo:app``), imported with the current directory on ``sys.path``.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import signal
import sys
from typing import Annotated, Any

import typer

from .app import Backburner
from .errors import BackburnerError
from .worker import Worker

__all__ = ["cli", "load_app", "main"]

cli = typer.Typer(
    name="backburner",
    help="Durable background jobs for slow, flaky AI generation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_cli = typer.Typer(help="Manage the database schema.", no_args_is_help=True)
cli.add_typer(db_cli, name="db")

AppArg = Annotated[
    str, typer.Argument(metavar="APP", envvar="BACKBURNER_APP", help="module:attribute of the app")
]
LogLevel = Annotated[
    str, typer.Option("--log-level", envvar="BACKBURNER_LOG_LEVEL", help="DEBUG, INFO, WARNING")
]


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``message`` to stderr and return the exit to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def load_app(path: str) -> Backburner:
    """Import ``module:attribute`` and check it is a `Backburner`."""
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise fail(f"APP must look like module:attribute, got {path!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        target: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        raise fail(f"cannot load APP {path!r}: {exc}") from None
    if not isinstance(target, Backburner):
        raise fail(f"APP {path!r} is a {type(target).__name__}, not a backburner.Backburner")
    return target


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


@cli.command()
def worker(
    app_path: AppArg,
    concurrency: Annotated[
        int | None,
        typer.Option(envvar="BACKBURNER_CONCURRENCY", min=1, help="jobs run at once [default: 50]"),
    ] = None,
    burst: Annotated[
        bool, typer.Option(help="exit once nothing is runnable and nothing runs")
    ] = False,
    log_level: LogLevel = "INFO",
) -> None:
    """Run a worker until SIGTERM/SIGINT (a second signal skips the grace period)."""
    _configure_logging(log_level)
    app = load_app(app_path)
    try:
        asyncio.run(_run_worker(Worker(app, concurrency=concurrency, burst=burst, use_signals=True)))
    except BackburnerError as exc:
        raise fail(str(exc), 1) from None


async def _run_worker(worker: Worker) -> None:
    loop = asyncio.get_running_loop()
    signals = [0]

    def on_signal() -> None:
        signals[0] += 1
        worker.stop(immediate=signals[0] > 1)

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal)
    try:
        await worker.run()
    finally:
        await worker.app.close()


@db_cli.command("upgrade")
def db_upgrade(
    database_url: Annotated[
        str | None, typer.Option(envvar="BACKBURNER_DATABASE_URL", help="the database to migrate")
    ] = None,
) -> None:
    """Bring the database schema up to date (the worker and the app also do this on start)."""
    try:
        app = Backburner(database_url)
        asyncio.run(_open_and_close(app))
    except BackburnerError as exc:
        raise fail(str(exc), 1) from None
    typer.echo(f"database is up to date: {app.settings.database_url}")


async def _open_and_close(app: Backburner) -> None:
    await app.open()
    await app.close()


def main() -> None:
    """The console-script entry point."""
    cli()


if __name__ == "__main__":
    main()
