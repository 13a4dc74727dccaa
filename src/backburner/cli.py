"""The ``backburner`` command: run workers, submit and watch jobs, manage the database.

```
backburner worker APP                          run the app's handlers
backburner submit KIND --input JSON [--wait]   store a job; print its id
backburner wait ID                             a live progress bar until the job ends
backburner status ID | jobs | cancel ID | retry ID | db upgrade
```

Every option has a ``BACKBURNER_*`` twin, shown in ``--help``. ``APP`` is ``module:attribute``
(for example ``examples.generation:app``), imported with the current directory on ``sys.path``.
Exit codes: 0 done, 1 the job failed or was canceled (or the database cannot be used),
2 a bad request (usage, input, configuration, unknown job, refused transition).
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from .app import Backburner
from .config import Settings
from .durations import parse_duration
from .errors import (
    BackburnerError,
    ConfigError,
    InvalidInput,
    InvalidTransition,
    JobNotFound,
)
from .jobs import Job, JobStatus
from .worker import Worker

__all__ = ["cli", "load_app", "main", "run"]

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
JobIdArg = Annotated[str, typer.Argument(metavar="ID", help="the job's id")]
OwnerOpt = Annotated[str, typer.Option(envvar="BACKBURNER_OWNER", help="who the job is for")]
ScopeOpt = Annotated[
    str | None, typer.Option(envvar="BACKBURNER_SCOPE", help="a group, e.g. novel:42")
]
TimeoutOpt = Annotated[
    str | None,
    typer.Option(
        envvar="BACKBURNER_WAIT_TIMEOUT",
        help="give up waiting (exit 1) after this long, e.g. 90s or 10m (default: never)",
    ),
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


def run(
    work: Work,
    *,
    app_path: str | None = None,
    database_url: str | None = None,
    needs_app: bool = False,
) -> None:
    """Build the app, run ``work`` on it in a fresh event loop and close it.

    This is the one place errors become exits: a `BackburnerError` prints one line on stderr
    and exits 2 when the request was wrong (see ``_REQUEST_ERRORS``), 1 otherwise.
    """
    try:
        app = _make_app(app_path, database_url, needs_app)
        code = asyncio.run(_closing(app, work))
    except BackburnerError as exc:
        raise fail(str(exc), 2 if isinstance(exc, _REQUEST_ERRORS) else 1) from None
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    if code:
        raise typer.Exit(code)


def _make_app(app_path: str | None, database_url: str | None, needs_app: bool) -> Backburner:
    """The app from ``--app`` (on ``--database-url`` when given), else a bare one."""
    if app_path is None:
        if needs_app:
            raise fail("this command needs the app: pass --app module:attribute or BACKBURNER_APP")
        return Backburner(database_url)
    app = load_app(app_path)
    if database_url is not None and database_url != app.settings.database_url:
        # Not opened yet, so swapping the settings is safe; build() validates the URL.
        values = {**app.settings.model_dump(), "database_url": database_url}
        app.settings = Settings.build(**values)
    return app


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


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def _parse_input(text: str) -> Any:
    """The ``--input`` value as data: inline JSON, ``@path`` to a JSON file, or ``-`` (stdin)."""
    source = "stdin" if text == "-" else repr(text[1:])
    try:
        if text == "-":
            text = sys.stdin.read()
        elif text.startswith("@"):
            text = Path(text[1:]).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else exc
        raise InvalidInput(f"--input: cannot read {source}: {reason}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"--input: not valid JSON ({exc})") from None


def _seconds(timeout: str | None) -> float | None:
    """The ``--timeout`` value in seconds (`InvalidDuration` if it is not a duration)."""
    return None if timeout is None else parse_duration(timeout, field="--timeout")


async def _wait(app: Backburner, job_id: str, limit_s: float | None) -> int:
    """Show the job's progress bar on stderr until it ends (or ``limit_s``); `_report` it."""
    from rich.console import Console  # rich is imported only by commands that render

    from .cli_render import JobBoard, watch

    with JobBoard(Console(stderr=True)) as board:
        [job] = await watch(app, [job_id], board, timeout_s=limit_s)
    return _report(job)


def _report(job: Job) -> int:
    """Print a succeeded job's output on stdout (0), or why it did not succeed on stderr (1)."""
    if job.status is JobStatus.SUCCEEDED:
        typer.echo(_json(job.output))
        return 0
    reason = f": {job.error.type.value}: {job.error.message}" if job.error else ""
    typer.echo(f"error: job {job.id} {job.status.value}{reason}", err=True)
    return 1


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


@cli.command()
def submit(
    kind: Annotated[str, typer.Argument(metavar="KIND", help="the kind of job, e.g. chapter")],
    input_json: Annotated[
        str,
        typer.Option("--input", help="the input as JSON; @path reads a file, - reads stdin"),
    ] = "{}",
    owner: OwnerOpt = "default",
    scope: ScopeOpt = None,
    dedupe_key: Annotated[
        str | None, typer.Option(help="at most one active job per key; a repeat returns it")
    ] = None,
    priority: Annotated[int, typer.Option(help="higher runs first")] = 0,
    wait: Annotated[bool, typer.Option("--wait", help="wait like `backburner wait`")] = False,
    timeout: TimeoutOpt = None,
    app_path: AppOpt = None,
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Store a job of KIND and print its id; with --wait, wait and print its output."""

    async def work(app: Backburner) -> int:
        data, limit_s = _parse_input(input_json), _seconds(timeout)
        job = await app.submit(
            kind, data, owner=owner, scope=scope, dedupe_key=dedupe_key, priority=priority
        )
        if job.deduplicated:
            typer.echo(f"job {job.id} ({job.status.value}) already has this dedupe key", err=True)
        if not wait:
            typer.echo(job.id)
            return 0
        typer.echo(f"submitted job {job.id}", err=True)
        return await _wait(app, job.id, limit_s)

    run(work, app_path=app_path, database_url=database_url, needs_app=True)


@cli.command("wait")
def wait_command(
    job_id: JobIdArg,
    timeout: TimeoutOpt = None,
    app_path: AppOpt = None,
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Show a live progress bar until the job ends; print its output (exit 0) or error (1)."""

    async def work(app: Backburner) -> int:
        return await _wait(app, job_id, _seconds(timeout))

    run(work, app_path=app_path, database_url=database_url)


@cli.command()
def status(job_id: JobIdArg, app_path: AppOpt = None, database_url: DatabaseUrlOpt = None) -> None:
    """Print the job as JSON."""

    async def work(app: Backburner) -> None:
        typer.echo(_json((await app.get(job_id)).model_dump(mode="json")))

    run(work, app_path=app_path, database_url=database_url)


@cli.command()
def jobs(
    owner: Annotated[str | None, typer.Option(envvar="BACKBURNER_OWNER", help="whose jobs")] = None,
    scope: ScopeOpt = None,
    status: Annotated[
        list[JobStatus] | None, typer.Option(help="only these statuses (repeatable)")
    ] = None,
    kind: Annotated[str | None, typer.Option(help="only this kind")] = None,
    active: Annotated[
        bool | None, typer.Option("--active/--finished", help="only queued/running, or only ended")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="at most this many")] = 20,
    app_path: AppOpt = None,
    database_url: DatabaseUrlOpt = None,
) -> None:
    """List jobs, newest first, as a table."""

    async def work(app: Backburner) -> None:
        page = await app.list(
            owner=owner, scope=scope, status=status, kind=kind, active=active, limit=limit
        )
        if not page.jobs:
            typer.echo("no jobs", err=True)
            return
        from rich.console import Console

        from .cli_render import job_table, print_table

        print_table(job_table(page.jobs), Console())
        if page.next_cursor is not None:
            typer.echo(f"showing the newest {limit}; raise --limit for more", err=True)

    run(work, app_path=app_path, database_url=database_url)


@cli.command()
def cancel(job_id: JobIdArg, app_path: AppOpt = None, database_url: DatabaseUrlOpt = None) -> None:
    """Cancel a queued job; ask a running one's worker to stop it."""

    async def work(app: Backburner) -> None:
        job = await app.cancel(job_id)
        if job.status is JobStatus.CANCELED:
            typer.echo(f"canceled job {job.id}")
        else:
            typer.echo(f"cancel requested: job {job.id} is running; its worker will stop it")

    run(work, app_path=app_path, database_url=database_url)


@cli.command()
def retry(job_id: JobIdArg, app_path: AppOpt = None, database_url: DatabaseUrlOpt = None) -> None:
    """Queue a failed or canceled job again: the same job, its saved input."""

    async def work(app: Backburner) -> None:
        job = await app.retry(job_id)
        typer.echo(f"job {job.id} is {job.status.value} again")

    run(work, app_path=app_path, database_url=database_url)


@db_cli.command("upgrade")
def db_upgrade(database_url: DatabaseUrlOpt = None) -> None:
    """Bring the database schema up to date (the worker and the app also do this on start)."""

    async def work(app: Backburner) -> None:
        await app.open()
        typer.echo(f"database is up to date: {app.settings.database_url}")

    run(work, database_url=database_url)


def main() -> None:
    """The console-script entry point."""
    from . import cli_server  # noqa: F401 - registers `serve` and `keys` on `cli`

    cli()


if __name__ == "__main__":
    main()
