"""The backburner demo (``make demo``): slow, flaky AI generation as durable jobs.

It starts a worker in this process on ``./demo.db`` (recreated each run), submits a few
generation jobs — chapters, a script-to-video with a flaky scene, portraits with a dedupe
key — and shows each job's live progress until all have finished, then a summary.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from generation import create_app
from rich.console import Console
from rich.table import Table

import backburner as bb
from backburner.cli_render import JobBoard, print_table, status_markup, watch

DATABASE = Path("demo.db")

#: (kind, input, submit options) for each request, in the order a user would make them.
REQUESTS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "chapter",
        {"journal_entry": "Walked to the harbour in the rain. Nobody else was out. I felt lost."},
        {"owner": "alice", "scope": "novel:42"},
    ),
    (
        "chapter",
        {"journal_entry": "Finally finished the garden fence! Mia brought lemonade at noon."},
        {"owner": "alice", "scope": "novel:42"},
    ),
    (
        "script_video",
        {
            "script": "A fox wakes at dawn. She crosses the frozen river. The ice cracks. "
            "She leaps to the far bank. Spring arrives in the valley."
        },
        {"owner": "studio", "scope": "project:7"},
    ),
    (
        "portrait",
        {"character_id": "char-1", "name": "Ada", "description": "a lighthouse keeper, oils"},
        {"owner": "tv", "scope": "show:7", "dedupe_key": "portrait:char-1"},
    ),
    (  # the same character again, from a second tab: backburner returns the first job
        "portrait",
        {"character_id": "char-1", "name": "Ada", "description": "a lighthouse keeper, oils"},
        {"owner": "tv", "scope": "show:7", "dedupe_key": "portrait:char-1"},
    ),
    (
        "portrait",
        {"character_id": "char-2", "name": "Bram", "description": "a tired ferryman, charcoal"},
        {"owner": "tv", "scope": "show:7", "dedupe_key": "portrait:char-2"},
    ),
    (
        "portrait",
        {"character_id": "char-3", "name": "Cyra", "description": "a trademarked mascot"},
        {"owner": "tv", "scope": "show:7", "dedupe_key": "portrait:char-3"},
    ),
]


async def submit_all(app: bb.Backburner, console: Console) -> list[str]:
    """Submit every request; the ids of the distinct jobs, in order."""
    ids: list[str] = []
    for kind, data, options in REQUESTS:
        job = await app.submit(kind, data, **options)
        if job.deduplicated:
            line = f"{kind} for {options['dedupe_key']} again: the same job {job.id}"
        else:
            line = f"submitted {kind} for {job.owner} ({job.scope}): {job.id}"
            ids.append(job.id)
        console.print(line, style="dim", soft_wrap=True)
    return ids


def result_of(job: bb.Job) -> str:
    """One line about what the job produced, or why it failed."""
    if job.error is not None:
        return f"{job.error.type.value}: {job.error.message}"
    output = job.output or {}
    if job.kind == "chapter":
        return f"“{output['title']}” ({output['mood']})"
    if job.kind == "script_video":
        return f"{len(output['clips'])} scenes → {output['video_url']}"
    return str(output.get("image_url", ""))


def summary(jobs: list[bb.Job]) -> Table:
    """How each job ended: status, attempts, time taken, result."""
    table = Table(title="Summary")
    for name in ("kind", "owner", "status", "attempts", "took", "result"):
        table.add_column(name)
    for job in jobs:
        took = (job.finished_at or job.updated_at) - job.created_at
        table.add_row(
            job.kind,
            job.owner,
            status_markup(job),
            f"{job.attempt}/{job.max_attempts}",
            f"{took.total_seconds():.1f}s",
            result_of(job),
        )
    return table


def remove_database() -> None:
    """Start from an empty database on every run."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{DATABASE}{suffix}").unlink(missing_ok=True)


async def main() -> None:
    """Run the demo end to end."""
    console = Console()
    app = create_app(f"sqlite:///{DATABASE}")
    async with app, app.worker():
        ids = await submit_all(app, console)
        with JobBoard(console) as board:
            jobs = await watch(app, ids, board, timeout_s=60)
    print_table(summary(jobs), console)
    console.print(closing_note(jobs))


def closing_note(jobs: list[bb.Job]) -> str:
    """What to notice in the summary."""
    succeeded = sum(job.status == "succeeded" for job in jobs)
    notes = [f"{succeeded} of {len(jobs)} jobs succeeded."]
    notes += [f"{job.kind} failed: {job.error.message} (on purpose)." for job in jobs if job.error]
    notes += [
        f"{job.kind} recovered on attempt {job.attempt}; the scenes made before the 503 "
        "were replayed from durable steps, not generated twice."
        for job in jobs
        if job.attempt > 1 and job.status == "succeeded"
    ]
    return " ".join(notes)


if __name__ == "__main__":
    remove_database()
    asyncio.run(main())
