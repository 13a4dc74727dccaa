"""Real worker processes for acceptance tests: start them, signal them, always reap them.

Every worker runs ``backburner worker tests.apps.acceptance_app:app`` from the repository
root, with its own log file. The `workers` fixture kills whatever is still running when the
test ends, passed or failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import backburner as bb
from tests.conftest import eventually

ROOT = Path(__file__).resolve().parents[2]
BACKBURNER = Path(sys.executable).with_name("backburner")
APP = "tests.apps.acceptance_app:app"
#: How long to wait for what a worker should do in a few seconds (start, run a job, exit):
#: generous, so a loaded machine is not a failure; a passing test never waits this long.
PATIENCE = 60.0


class WorkerProcess:
    """One ``backburner worker`` subprocess and its log (stdout and stderr together)."""

    def __init__(self, proc: subprocess.Popen[bytes], log_path: Path) -> None:
        self.proc = proc
        self.log_path = log_path

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def send(self, signum: signal.Signals) -> None:
        self.proc.send_signal(signum)

    async def freeze(self, db_path: Path) -> None:
        """SIGSTOP the worker, at a moment it does not hold SQLite's write lock.

        A worker frozen inside a write transaction would block every other writer; such
        a moment is rare (writes take milliseconds) but is retried rather than risked.
        """
        for _ in range(20):
            self.send(signal.SIGSTOP)
            await self._wait_all_threads_stopped()
            if _write_lock_free(db_path):
                return
            self.send(signal.SIGCONT)
            await asyncio.sleep(0.05)
        raise AssertionError(f"worker {self.pid} always held the write lock")

    def kill(self) -> None:
        """SIGKILL now (a stopped process dies too) and reap it."""
        if self.alive:
            self.proc.kill()
        self.proc.wait(timeout=10)

    async def _wait_all_threads_stopped(self, timeout: float = 10.0) -> None:
        """SIGSTOP takes effect asynchronously: wait until every thread shows state T."""
        deadline = time.monotonic() + timeout
        while not all(_thread_state(stat) == "T" for stat in self._thread_stats()):
            if time.monotonic() > deadline:
                raise AssertionError(f"worker {self.pid} did not stop")
            await asyncio.sleep(0.005)

    def _thread_stats(self) -> list[str]:
        stats = []
        for task in Path(f"/proc/{self.pid}/task").iterdir():
            with contextlib.suppress(FileNotFoundError):  # a thread that just ended
                stats.append((task / "stat").read_text())
        return stats

    async def wait_log(self, text: str, *, count: int = 1, timeout: float = PATIENCE) -> None:
        """Wait until ``text`` appears ``count`` times in the log."""
        deadline = time.monotonic() + timeout
        while self.log().count(text) < count:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"worker {self.pid}: {text!r} not seen {count}x in {timeout}s; log:\n"
                    + self.log()[-3000:]
                )
            await asyncio.sleep(0.05)

    async def wait_exit(self, timeout: float = PATIENCE) -> int:
        """Wait until the process exits; its exit code (negative: killed by that signal)."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"worker {self.pid} still running after {timeout}s")
            await asyncio.sleep(0.05)
        return self.proc.returncode


def _thread_state(stat: str) -> str:
    """The state letter in a ``/proc/…/stat`` line (the field after the ``(name)``)."""
    return stat.rsplit(")", 1)[1].split()[0]


def _write_lock_free(db_path: Path) -> bool:
    """True when a write transaction on ``db_path`` can start within half a second."""
    conn = sqlite3.connect(db_path, timeout=0.5, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        conn.close()


class Workers:
    """Starts worker processes for one test; `close` kills those still running."""

    def __init__(self, tmp_path: Path, db_url: str) -> None:
        self._tmp_path = tmp_path
        self.db_url = db_url
        #: The SQLite file behind ``db_url``.
        self.db_path = Path(db_url.removeprefix("sqlite:///"))
        self.started: list[WorkerProcess] = []

    def start(
        self,
        *,
        lease: str = "2s",
        grace: str = "5s",
        concurrency: int = 20,
        database_url: str | None = None,
        env: dict[str, str] | None = None,
    ) -> WorkerProcess:
        """Start a worker on this test's database (or ``database_url``).

        Only these settings (and ``env``) reach it: ``BACKBURNER_*`` variables of the test
        run do not.
        """
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("BACKBURNER_")}
        env = {
            **inherited,
            "BACKBURNER_DATABASE_URL": database_url or self.db_url,
            "BACKBURNER_LEASE": lease,
            "BACKBURNER_GRACE": grace,
            "BACKBURNER_CONCURRENCY": str(concurrency),
            "BACKBURNER_LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        log_path = self._tmp_path / f"worker-{len(self.started) + 1}.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [str(BACKBURNER), "worker", APP],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        worker = WorkerProcess(proc, log_path)
        self.started.append(worker)
        return worker

    async def start_ready(
        self, *, lease: str = "2s", grace: str = "5s", concurrency: int = 20
    ) -> WorkerProcess:
        """Start a worker and wait until it says it has started claiming."""
        worker = self.start(lease=lease, grace=grace, concurrency=concurrency)
        await worker.wait_log("worker started")
        return worker

    def close(self) -> None:
        for worker in self.started:
            with contextlib.suppress(Exception):
                worker.kill()


async def all_jobs(app: bb.Backburner) -> list[bb.Job]:
    """Every job in the database, paging through `Backburner.list`."""
    found: list[bb.Job] = []
    cursor = None
    for _ in range(1000):
        page = await app.list(cursor=cursor, limit=1000)
        found.extend(page.jobs)
        cursor = page.next_cursor
        if cursor is None:
            return found
    raise AssertionError("more pages than expected")


def worker_pid(worker_id: str) -> int:
    """The pid inside a worker id (``host:pid:random``)."""
    return int(worker_id.split(":")[-2])


async def wait_idle(app: bb.Backburner, timeout: float = 60.0) -> None:
    """Wait until no job is queued or running (a one-row query: cheap to poll)."""

    async def idle() -> bool:
        return not (await app.list(active=True, limit=1)).jobs

    await eventually(idle, timeout=timeout, interval=0.2)


async def wait_count(
    app: bb.Backburner, status: bb.JobStatus, count: int, timeout: float = 60.0
) -> None:
    """Wait until at least ``count`` jobs have ``status``."""

    async def enough() -> bool:
        return len((await app.list(status=status, limit=count)).jobs) >= count

    await eventually(enough, timeout=timeout, interval=0.05)


async def status_events(app: bb.Backburner, job_id: str) -> list[dict[str, Any]]:
    """The data of the job's ``status`` events, in order."""
    return [e.data for e in await app.events(job_id) if e.type == "status"]


def reasons(events: list[dict[str, Any]]) -> list[str]:
    """The ``reason`` of each status event that has one."""
    return [e["reason"] for e in events if "reason" in e]
