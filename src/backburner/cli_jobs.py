"""The job commands: ``submit``, ``wait``, ``status``, ``jobs``, ``cancel``, ``retry``, ``delete``.

Each is written once against `JobsBackend`: on the database (``--app``/``--database-url``)
or, with ``--url URL --key KEY``, on a remote ``backburner serve`` as the key's owner. The
output and exit codes are the same in both modes. Registered on `cli.cli`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any

import typer

from .cli import AppOpt, DatabaseUrlOpt, cli, run_main
from .cli_backend import JobsBackend, open_backend
from .durations import parse_duration
from .errors import InvalidInput
from .jobs import Job, JobStatus

__all__ = [
    "JobsWork",
    "cancel",
    "delete",
    "jobs",
    "retry",
    "status",
    "submit",
    "wait_command",
]

#: What a job command does with its backend; returns the exit code (``None`` for 0).
JobsWork = Callable[[JobsBackend], Awaitable[int | None]]

JobIdArg = Annotated[str, typer.Argument(metavar="ID", help="the job's id")]
OwnerOpt = Annotated[
    str | None,
    typer.Option(
        envvar="BACKBURNER_OWNER",
        show_default=False,
        help="who the job is for (default: default; with --url, always the key's owner)",
    ),
]
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
UrlOpt = Annotated[
    str | None,
    typer.Option(
        "--url",
        envvar="BACKBURNER_URL",
        metavar="URL",
        help="call the backburner server at URL (needs --key) instead of opening the database",
    ),
]
KeyOpt = Annotated[
    str | None,
    typer.Option(
        "--key",
        envvar="BACKBURNER_API_KEY",
        metavar="KEY",
        show_default=False,
        help="the API key for --url: the commands act as its owner",
    ),
]


def run_jobs(
    work: JobsWork,
    *,
    url: str | None,
    key: str | None,
    app_path: str | None,
    database_url: str | None,
    needs_app: bool = False,
) -> None:
    """Open the backend ``--url`` selects, run ``work`` on it (errors become exits in
    `run_main`) and close it."""

    def start() -> Coroutine[Any, Any, int | None]:
        backend = open_backend(
            url=url, key=key, app_path=app_path, database_url=database_url, needs_app=needs_app
        )
        return _closing(backend, work)

    run_main(start)


async def _closing(backend: JobsBackend, work: JobsWork) -> int | None:
    try:
        return await work(backend)
    finally:
        await backend.aclose()


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


async def _wait(backend: JobsBackend, job_id: str, limit_s: float | None) -> int:
    """Show the job's progress bar on stderr until it ends (or ``limit_s``); `_report` it."""
    from rich.console import Console  # rich is imported only by commands that render

    from .cli_render import JobBoard

    with JobBoard(Console(stderr=True)) as board:
        job = await backend.wait(job_id, limit_s=limit_s, on_change=board.show)
        board.show(job)
    return _report(job)


def _report(job: Job) -> int:
    """Print a succeeded job's output on stdout (0), or why it did not succeed on stderr (1)."""
    if job.status is JobStatus.SUCCEEDED:
        typer.echo(_json(job.output))
        return 0
    reason = f": {job.error.type.value}: {job.error.message}" if job.error else ""
    typer.echo(f"error: job {job.id} {job.status.value}{reason}", err=True)
    return 1


@cli.command()
def submit(
    kind: Annotated[str, typer.Argument(metavar="KIND", help="the kind of job, e.g. chapter")],
    input_json: Annotated[
        str,
        typer.Option("--input", help="the input as JSON; @path reads a file, - reads stdin"),
    ] = "{}",
    owner: OwnerOpt = None,
    scope: ScopeOpt = None,
    dedupe_key: Annotated[
        str | None, typer.Option(help="at most one active job per key; a repeat returns it")
    ] = None,
    priority: Annotated[int, typer.Option(help="higher runs first")] = 0,
    wait: Annotated[bool, typer.Option("--wait", help="wait like `backburner wait`")] = False,
    timeout: TimeoutOpt = None,
    app_path: AppOpt = None,
    database_url: DatabaseUrlOpt = None,
    url: UrlOpt = None,
    key: KeyOpt = None,
) -> None:
    """Store a job of KIND and print its id; with --wait, wait and print its output."""

    async def work(backend: JobsBackend) -> int:
        data, limit_s = _parse_input(input_json), _seconds(timeout)
        job = await backend.submit(
            kind, data, owner=owner, scope=scope, dedupe_key=dedupe_key, priority=priority
        )
        if job.deduplicated:
            typer.echo(f"job {job.id} ({job.status.value}) already has this dedupe key", err=True)
        if not wait:
            typer.echo(job.id)
            return 0
        typer.echo(f"submitted job {job.id}", err=True)
        return await _wait(backend, job.id, limit_s)

    run_jobs(work, url=url, key=key, app_path=app_path, database_url=database_url, needs_app=True)


@cli.command("wait")
def wait_command(
    job_id: JobIdArg,
    timeout: TimeoutOpt = None,
    app_path: AppOpt = None,
    database_url: DatabaseUrlOpt = None,
    url: UrlOpt = None,
    key: KeyOpt = None,
) -> None:
    """Show a live progress bar until the job ends; print its output (exit 0) or error (1)."""

    async def work(backend: JobsBackend) -> int:
        return await _wait(backend, job_id, _seconds(timeout))

    run_jobs(work, url=url, key=key, app_path=app_path, database_url=database_url)


@cli.command()
def status(
    job_id: JobIdArg,
    app_path: AppOpt = None,
    database_url: DatabaseUrlOpt = None,
    url: UrlOpt = None,
    key: KeyOpt = None,
) -> None:
    """Print the job as JSON."""

    async def work(backend: JobsBackend) -> None:
        typer.echo(_json((await backend.get(job_id)).model_dump(mode="json")))

    run_jobs(work, url=url, key=key, app_path=app_path, database_url=database_url)


@cli.command()
def jobs(
    owner: Annotated[
        str | None,
        typer.Option(envvar="BACKBURNER_OWNER", help="whose jobs (with --url: admin keys only)"),
    ] = None,
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
    url: UrlOpt = None,
    key: KeyOpt = None,
) -> None:
    """List jobs, newest first, as a table."""

    async def work(backend: JobsBackend) -> None:
        page = await backend.list(
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

    run_jobs(work, url=url, key=key, app_path=app_path, database_url=database_url)


@cli.command()
def cancel(
    job_id: JobIdArg,
    app_path: AppOpt = None,
    database_url: DatabaseUrlOpt = None,
    url: UrlOpt = None,
    key: KeyOpt = None,
) -> None:
    """Cancel a queued job; ask a running one's worker to stop it."""

    async def work(backend: JobsBackend) -> None:
        job = await backend.cancel(job_id)
        if job.status is JobStatus.CANCELED:
            typer.echo(f"canceled job {job.id}")
        else:
            typer.echo(f"cancel requested: job {job.id} is running; its worker will stop it")

    run_jobs(work, url=url, key=key, app_path=app_path, database_url=database_url)


@cli.command()
def retry(
    job_id: JobIdArg,
    app_path: AppOpt = None,
    database_url: DatabaseUrlOpt = None,
    url: UrlOpt = None,
    key: KeyOpt = None,
) -> None:
    """Queue a failed or canceled job again: the same job, its saved input."""

    async def work(backend: JobsBackend) -> None:
        job = await backend.retry(job_id)
        typer.echo(f"job {job.id} is {job.status.value} again")

    run_jobs(work, url=url, key=key, app_path=app_path, database_url=database_url)


@cli.command()
def delete(
    job_id: JobIdArg,
    app_path: AppOpt = None,
    database_url: DatabaseUrlOpt = None,
    url: UrlOpt = None,
    key: KeyOpt = None,
) -> None:
    """Delete a job with its events; a running one's worker is asked to stop it."""

    async def work(backend: JobsBackend) -> None:
        await backend.delete(job_id)
        typer.echo(f"deleted job {job_id}")

    run_jobs(work, url=url, key=key, app_path=app_path, database_url=database_url)
