"""The ``backburner`` command: run workers, submit and watch jobs, manage the database.

```
backburner worker APP                          run the app's handlers
backburner submit KIND --input JSON [--wait]   store a job; print its id
backburner wait ID                             a live progress bar until the job ends
backburner status ID | jobs | cancel ID | retry ID | delete ID | db upgrade
backburner serve APP | keys create|revoke      the HTTP API (cli_server)
backburner credits grant|adjust|show OWNER     the credits ledger (cli_credits)
backburner fake-provider [--port N]            a FAKE AI provider for demos (cli_fakeprovider)
backburner demo [--provider openai]            the seed apps, a worker and the dashboard (cli_demo)
```

The job and credits commands (``cli_jobs``, ``cli_credits``) work on the database, or with
``--url URL --key KEY`` on a remote ``backburner serve`` through `backburner.client` — the
same output either way.
Every option has a ``BACKBURNER_*`` twin, shown in ``--help``. ``APP`` is ``module:attribute``
(for example ``examples.seeds:app``), imported with the current directory on ``sys.path``.
Exit codes: 0 done, 1 the job failed or was canceled (or the database or server cannot be
used), 2 a bad request (usage, input, configuration, key, unknown job, refused transition).

This module holds the typer app, the shared options and the one place errors become exit
codes (`run_main`); importing it registers every command.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import Annotated, Any

import sqlalchemy as sa
import typer

from .app import Backburner
from .cli_backend import load_app, make_app
from .errors import (
    ApiRequestError,
    BackburnerError,
    ConfigError,
    InvalidInput,
    InvalidTransition,
    JobNotFound,
)
from .worker import Worker

__all__ = ["cli", "exit_code", "fail", "load_app", "main", "run", "run_main"]

cli = typer.Typer(
    name="backburner",
    help="Durable background jobs for slow, flaky AI generation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_cli = typer.Typer(help="Manage the database schema.", no_args_is_help=True)
cli.add_typer(db_cli, name="db")

#: What a command does with its app; returns the exit code (``None`` for 0).
Work = Callable[[Backburner], Awaitable[int | None]]

#: Errors that mean the request itself was wrong: exit code 2, like a usage error.
_REQUEST_ERRORS = (ConfigError, InvalidInput, JobNotFound, InvalidTransition)
#: HTTP 4xx answers that are not the request's fault: try again later (exit 1).
_TRANSIENT_STATUSES = frozenset({408, 429})

AppArg = Annotated[
    str, typer.Argument(metavar="APP", envvar="BACKBURNER_APP", help="module:attribute of the app")
]
AppOpt = Annotated[
    str | None,
    typer.Option(
        "--app",
        envvar="BACKBURNER_APP",
        metavar="MODULE:ATTR",
        help="the app, for its kinds and settings; without it, a bare app on --database-url",
    ),
]
DatabaseUrlOpt = Annotated[
    str | None,
    typer.Option(
        envvar="BACKBURNER_DATABASE_URL",
        help="where jobs are stored, overriding the app's (default sqlite:///backburner.db)",
    ),
]
LogLevel = Annotated[
    str, typer.Option("--log-level", envvar="BACKBURNER_LOG_LEVEL", help="DEBUG, INFO, WARNING")
]


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``message`` to stderr and return the exit to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def exit_code(exc: BackburnerError) -> int:
    """2 when the request was wrong (``_REQUEST_ERRORS``, or a server's 4xx answer such as
    401 for a bad key), else 1 (the job, the database or the server let us down)."""
    if isinstance(exc, _REQUEST_ERRORS):
        return 2
    if isinstance(exc, ApiRequestError) and 400 <= exc.status < 500:
        return 1 if exc.status in _TRANSIENT_STATUSES else 2
    return 1


def run_main(start: Callable[[], Coroutine[Any, Any, int | None]]) -> None:
    """Call ``start()`` and run the coroutine it returns in a fresh event loop.

    This is the one place errors become exits: a `BackburnerError` (from ``start`` itself too,
    e.g. a bad setting) prints one line on stderr and exits with `exit_code`; Ctrl-C exits 130.
    """
    try:
        code = asyncio.run(start())
    except BackburnerError as exc:
        raise fail(str(exc), exit_code(exc)) from None
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    if code:
        raise typer.Exit(code)


def run(
    work: Work,
    *,
    app_path: str | None = None,
    database_url: str | None = None,
    needs_app: bool = False,
) -> None:
    """Build the app (outside the event loop: importing it may do anything), run ``work`` on
    it with `run_main` and close it."""

    def start() -> Coroutine[Any, Any, int | None]:
        return _closing(make_app(app_path, database_url, needs_app), work)

    run_main(start)


async def _closing(app: Backburner, work: Work) -> int | None:
    try:
        return await work(app)
    finally:
        await app.close()


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


# ── commands ──────────────────────────────────────────────────────────────
@cli.command()
def worker(
    app_path: AppArg,
    concurrency: Annotated[
        int | None,
        typer.Option(envvar="BACKBURNER_CONCURRENCY", min=1, help="jobs run at once (default 50)"),
    ] = None,
    burst: Annotated[
        bool, typer.Option(help="exit once nothing is runnable and nothing runs")
    ] = False,
    log_level: LogLevel = "INFO",
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Run a worker until SIGTERM/SIGINT (a second signal skips the grace period)."""
    _configure_logging(log_level)

    async def work(app: Backburner) -> None:
        await _run_worker(Worker(app, concurrency=concurrency, burst=burst, use_signals=True))

    run(work, app_path=app_path, database_url=database_url, needs_app=True)


async def _run_worker(worker: Worker) -> None:
    loop = asyncio.get_running_loop()
    signals = [0]

    def on_signal() -> None:
        signals[0] += 1
        worker.stop(immediate=signals[0] > 1)

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal)
    await worker.run()


@db_cli.command("upgrade")
def db_upgrade(database_url: DatabaseUrlOpt = None) -> None:
    """Bring the database schema up to date (the worker and the app also do this on start)."""

    async def work(app: Backburner) -> None:
        await app.open()
        url = sa.make_url(app.settings.database_url).render_as_string(hide_password=True)
        typer.echo(f"database is up to date: {url}")

    run(work, database_url=database_url)


def main() -> None:
    """The console-script entry point."""
    cli()


# The other commands register themselves on `cli`; they import the names above.
from . import cli_credits, cli_demo, cli_fakeprovider, cli_jobs, cli_server  # noqa: E402, F401

if __name__ == "__main__":
    # Run as ``python -m backburner.cli``, this file is ``__main__``, a second copy whose
    # `cli` the modules above did not register on: call the package module's instead.
    from backburner.cli import main as _main

    _main()
