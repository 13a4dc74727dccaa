"""Rich rendering for the CLI and the demo: live progress bars, job tables, watching jobs.

```python
with JobBoard(Console(stderr=True)) as board:
    jobs = await watch(app, [job.id], board)
```
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.progress import BarColumn, Progress, TaskID, TextColumn
from rich.table import Column, Table
from rich.text import Text

from .app import Backburner
from .jobs import Job, JobStatus

__all__ = ["JobBoard", "job_table", "outcome_text", "print_table", "status_markup", "watch"]

_STATUS_STYLES = {
    JobStatus.QUEUED: "dim",
    JobStatus.RUNNING: "cyan",
    JobStatus.SUCCEEDED: "green",
    JobStatus.FAILED: "red",
    JobStatus.CANCELED: "yellow",
}
#: The board's message column takes what is left of the line, cut with an ellipsis.
_MESSAGE = Column(no_wrap=True, overflow="ellipsis", ratio=1)
#: Longest pause between two looks at the watched jobs, so elapsed times keep moving.
_REFRESH_S = 0.5


def status_markup(job: Job) -> str:
    """The job's status as rich markup, coloured, with ``(slow)`` when it is slow."""
    label = job.status.value + (" (slow)" if job.slow else "")
    return f"[{_STATUS_STYLES[job.status]}]{label}[/]"


def outcome_text(job: Job) -> str:
    """What to say about the job: why it failed (or why it waits to retry), else its message."""
    if job.error is None or job.status is JobStatus.RUNNING:
        return job.message or ""
    error = f"{job.error.type.value}: {job.error.message}"
    return f"retrying after {error}" if job.status is JobStatus.QUEUED else error


def _elapsed(job: Job) -> str:
    """Seconds since the job started (until it finished), from the job's own timestamps."""
    if job.started_at is None:
        return ""
    end = job.finished_at or datetime.now(UTC)
    return f"{max((end - job.started_at).total_seconds(), 0.0):.1f}s"


def _percent(job: Job) -> str:
    """The progress as a percentage; blank while it is unknown."""
    if job.status is JobStatus.SUCCEEDED:
        return "100%"
    return "" if job.progress is None else f"{job.progress:.0%}"


def _cell(min_width: int) -> Column:
    """A board column that keeps its width: the message column gives way first."""
    return Column(min_width=min_width, no_wrap=True)


def _fields(job: Job) -> dict[str, Any]:
    """The values `JobBoard`'s columns show, besides the bar and the message."""
    return {
        "kind": job.kind,
        "percent": _percent(job),
        "status": status_markup(job),
        "attempt": f"attempt {job.attempt}/{job.max_attempts}",
        "elapsed": _elapsed(job),
    }


class JobBoard:
    """Live progress bars, one per job: kind, bar, percentage, status, attempt, time, message.

    The bar pulses while the job's progress is unknown (``None``). Use it as a context
    manager: the display starts with the first `show` and stops at the end of the block.
    """

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("{task.fields[kind]}", markup=False, table_column=_cell(12)),
            BarColumn(bar_width=20),
            TextColumn("{task.fields[percent]}", justify="right", table_column=_cell(4)),
            TextColumn("{task.fields[status]}", table_column=_cell(9)),
            TextColumn("{task.fields[attempt]}", markup=False, table_column=_cell(11)),
            TextColumn("{task.fields[elapsed]}", markup=False, table_column=_cell(5)),
            TextColumn("{task.description}", markup=False, table_column=_MESSAGE),
            console=console,
            expand=True,  # with a ratio column, the message (not the bar) gives way when narrow
        )
        self._tasks: dict[str, TaskID] = {}
        self._pulsing: set[str] = set()

    def __enter__(self) -> JobBoard:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._tasks:  # rich prints a blank line on stopping, even if it never started
            self._progress.stop()

    def show(self, job: Job) -> None:
        """Draw ``job``'s latest state (adding its bar the first time)."""
        fields = _fields(job)
        task_id = self._tasks.get(job.id)
        if task_id is None:
            self._progress.start()  # on the first job, so a board that shows none prints nothing
            task_id = self._progress.add_task("", total=1.0, start=False, **fields)
            self._tasks[job.id] = task_id
            self._pulsing.add(job.id)
        # A not-started rich task pulses: that is how an unknown fraction is drawn.
        pulse = job.progress is None and not job.finished
        if pulse and job.id not in self._pulsing:
            self._progress.reset(task_id, start=False, total=1.0, **fields)
            self._pulsing.add(job.id)
        elif not pulse and job.id in self._pulsing:
            self._progress.start_task(task_id)
            self._pulsing.discard(job.id)
        done = 1.0 if job.status is JobStatus.SUCCEEDED else (job.progress or 0.0)
        self._progress.update(task_id, completed=done, description=outcome_text(job), **fields)


async def watch(
    app: Backburner,
    job_ids: builtins.list[str],
    board: JobBoard,
    *,
    timeout_s: float | None = None,
) -> builtins.list[Job]:
    """Show the jobs on ``board`` until every one has finished; return them, in order.

    Raises `JobNotFound` if a job does not exist (or is deleted meanwhile) and `JobTimeout`
    after ``timeout_s`` seconds.
    """
    jobs: builtins.list[Job] = []
    async for jobs in app.watch(job_ids, timeout=timeout_s, refresh_s=_REFRESH_S):
        for job in jobs:
            board.show(job)
    return jobs


def print_table(table: Table, console: Console) -> None:
    """Print ``table``; into a pipe or file at its natural width, so no cell is cut short."""
    if not console.is_terminal:
        wide = console.options.update(max_width=10_000)
        console = Console(width=Measurement.get(console, wide, table).maximum)
    console.print(table)


def job_table(jobs: Iterable[Job]) -> Table:
    """A table of jobs: id, kind, owner, scope, status, progress, attempt, message, created."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False)
    table.add_column("id", no_wrap=True, min_width=36)
    for name in ("kind", "owner", "scope"):
        table.add_column(name)
    table.add_column("status", no_wrap=True)
    table.add_column("progress", justify="right")
    table.add_column("attempt", justify="right")
    table.add_column("message")
    table.add_column("created (UTC)", no_wrap=True)
    for job in jobs:
        table.add_row(
            job.id,
            Text(job.kind),
            Text(job.owner),
            Text(job.scope or ""),
            Text.from_markup(status_markup(job)),
            _percent(job),
            f"{job.attempt}/{job.max_attempts}",
            Text(outcome_text(job)),
            job.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
        )
    return table
