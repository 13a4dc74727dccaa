"""Throughput and latency of the embedded default: a SQLite file, default settings.

```
.venv/bin/python bench/throughput.py            # the full run (about two minutes)
.venv/bin/python bench/throughput.py --quick    # a smoke run: does the script still work?
.venv/bin/python bench/throughput.py --jobs 0.5 # every job count halved
```

Figures (each on a fresh database file of its own, in a temporary directory):

1. submit rate: sequential ``await app.submit`` in one process, and 10 coroutines at once;
2. drain rate: N pre-submitted no-op jobs, one ``backburner worker`` process, timed from
   the first job start to the last finish (the target), with startup shown on its own;
3. wall time of 2,000 jobs that each sleep 50 ms, one worker at ``--concurrency 100``;
4. idle latency: one job at a time to an idle worker, submit call to handler entry.

Everything is local and bounded: every wait has a deadline, and a worker that does not
finish in time makes its figure fail rather than the script hang. The database sits behind
`Database` so another backend (PostgreSQL) can be added as a ``--database`` option.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import os
import resource
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as `python bench/throughput.py`
    sys.path.insert(0, str(ROOT))

import backburner as bb  # noqa: E402
from bench.bench_app import build_app  # noqa: E402

WORKER_APP = "bench.bench_app:app"
POLL_S = 0.05


# ── scale ─────────────────────────────────────────────────────────────────────────────
@dataclass(frozen=True)
class Scale:
    """How many jobs each figure uses, and how long any one wait may take."""

    submit_jobs: int = 10_000
    submitters: int = 10
    drain_jobs: int = 10_000
    nap_jobs: int = 2_000
    nap_s: float = 0.05
    nap_concurrency: int = 100
    latency_jobs: int = 200
    timeout_s: float = 180.0

    @classmethod
    def scaled(cls, factor: float) -> Scale:
        base = cls()

        def n(value: int, least: int) -> int:
            return max(least, round(value * factor))

        return cls(
            submit_jobs=n(base.submit_jobs, base.submitters),
            drain_jobs=n(base.drain_jobs, 100),
            nap_jobs=n(base.nap_jobs, base.nap_concurrency),
            latency_jobs=n(base.latency_jobs, 20),
        )

    @property
    def nap_ideal_s(self) -> float:
        """The wall time of the nap jobs with no overhead at all: whole waves of naps."""
        waves = -(-self.nap_jobs // self.nap_concurrency)
        return waves * self.nap_s


# ── the database under test ───────────────────────────────────────────────────────────
class Database(Protocol):
    """Where the figures run: a fresh database per figure, and cheap counting queries.

    A PostgreSQL implementation (a ``--database postgresql://…`` option) would create a
    schema or database per figure and run the same two queries.
    """

    label: str

    def fresh(self, name: str) -> str:
        """The URL of a new, empty database for one figure."""
        ...

    def count(self, url: str, status: str) -> int:
        """How many jobs have ``status``."""
        ...

    def span(self, url: str) -> tuple[float | None, float | None]:
        """The first ``started_at`` and the last ``finished_at``, in epoch seconds."""
        ...


class SqliteFiles:
    """One SQLite file per figure in a temporary directory (the embedded default)."""

    label = "SQLite file, default settings"

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._conns: dict[str, sqlite3.Connection] = {}

    def fresh(self, name: str) -> str:
        return f"sqlite:///{self.directory / f'{name}.db'}"

    def _conn(self, url: str) -> sqlite3.Connection:
        if url not in self._conns:
            path = url.removeprefix("sqlite:///")
            # autocommit: every SELECT sees the latest commit, and holds no snapshot
            self._conns[url] = sqlite3.connect(path, timeout=30, isolation_level=None)
        return self._conns[url]

    def count(self, url: str, status: str) -> int:
        sql = "SELECT COUNT(*) FROM jobs WHERE status = ?"
        return int(self._conn(url).execute(sql, (status,)).fetchone()[0])

    def span(self, url: str) -> tuple[float | None, float | None]:
        sql = "SELECT MIN(started_at), MAX(finished_at) FROM jobs"
        first, last = self._conn(url).execute(sql).fetchone()
        return first, last

    def close(self) -> None:
        for conn in self._conns.values():
            conn.close()
        self._conns.clear()


# ── results ───────────────────────────────────────────────────────────────────────────
@dataclass
class Figure:
    """One line of the final table."""

    name: str
    value: float | None
    unit: str
    target: str = ""
    passed: bool | None = None  # None: no target
    note: str = ""

    def show(self) -> str:
        if self.value is None:
            return "—"
        digits = 0 if self.unit == "jobs/s" else (1 if self.unit == "ms" else 3)
        return f"{self.value:,.{digits}f} {self.unit}"


@dataclass
class Report:
    figures: list[Figure] = field(default_factory=list)

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        note = f"  ({figure.note})" if figure.note else ""
        print(f"  {figure.name}: {figure.show()}{note}", flush=True)
        return figure

    def table(self) -> str:
        rows = [("figure", "value", "target", "result")]
        for f in self.figures:
            result = "" if f.passed is None else ("PASS" if f.passed else "FAIL")
            rows.append((f.name, f.show(), f.target, result))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        lines = []
        for i, row in enumerate(rows):
            lines.append(" | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
            if i == 0:
                lines.append("-+-".join("-" * w for w in widths))
        return "\n".join(lines)


# ── helpers ───────────────────────────────────────────────────────────────────────────
@contextlib.asynccontextmanager
async def opened(url: str) -> AsyncIterator[bb.Backburner]:
    """The benchmark app on ``url``, connected (and migrated) before any timing starts."""
    app = build_app(url)
    async with app:
        yield app


async def submit_many(app: bb.Backburner, kind: str, count: int, inp: dict[str, Any]) -> None:
    for _ in range(count):
        await app.submit(kind, inp)


async def submit_parallel(
    app: bb.Backburner, kind: str, count: int, inp: dict[str, Any], submitters: int
) -> None:
    shares = [count // submitters + (i < count % submitters) for i in range(submitters)]
    await asyncio.gather(*(submit_many(app, kind, n, inp) for n in shares))


@dataclass
class WorkerRun:
    """A worker subprocess: when it was started, and the CPU it used (once it has exited)."""

    started: float
    cpu_s: float | None = None


@contextlib.contextmanager
def worker_process(url: str, concurrency: int | None, log: IO[bytes]) -> Iterator[WorkerRun]:
    """A ``backburner worker`` subprocess on ``url``, stopped with SIGTERM on exit.

    Killed if it does not stop within 30 s. Its CPU time (user + system) is read from
    ``RUSAGE_CHILDREN``, which counts a child once it has been waited for.
    """
    command = [sys.executable, "-m", "backburner.cli", "worker", WORKER_APP]
    command += ["--log-level", "WARNING"]
    if concurrency is not None:
        command += ["--concurrency", str(concurrency)]
    env = {**os.environ, "BACKBURNER_DATABASE_URL": url}
    before = _children_cpu_s()
    run = WorkerRun(started=time.time())
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
    try:
        yield run
        if proc.poll() is not None:
            raise RuntimeError(f"the worker exited early with code {proc.returncode}")
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        run.cpu_s = _children_cpu_s() - before


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def wait_until(check: Callable[[], bool], timeout_s: float) -> bool:
    """Poll ``check`` every 50 ms; ``False`` if it is still false after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(POLL_S)
    return True


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[index]


# ── the figures ───────────────────────────────────────────────────────────────────────
async def bench_submit(db: Database, scale: Scale, report: Report) -> str:
    """Figure 1; returns the URL of the sequential run's database (the drain's jobs)."""
    n = scale.submit_jobs
    print(f"1. submit {n:,} no-op jobs", flush=True)
    url = db.fresh("submit_sequential")
    async with opened(url) as app:
        t0 = time.perf_counter()
        await submit_many(app, "noop", n, {})
        elapsed = time.perf_counter() - t0
    report.add(Figure("submit, sequential", n / elapsed, "jobs/s", note=f"{elapsed:.2f} s"))

    parallel_url = db.fresh("submit_parallel")
    async with opened(parallel_url) as app:
        t0 = time.perf_counter()
        await submit_parallel(app, "noop", n, {}, scale.submitters)
        elapsed = time.perf_counter() - t0
    name = f"submit, {scale.submitters} coroutines"
    report.add(Figure(name, n / elapsed, "jobs/s", note=f"{elapsed:.2f} s"))
    return url


async def bench_drain(
    db: Database, scale: Scale, report: Report, url: str | None, log: IO[bytes]
) -> None:
    """Figure 2: one worker process drains pre-submitted no-op jobs (figure 1's, if run)."""
    if url is None:
        url = db.fresh("drain")
        async with opened(url) as app:
            await submit_parallel(app, "noop", scale.drain_jobs, {}, scale.submitters)
    n = db.count(url, "queued")
    print(f"2. drain {n:,} queued no-op jobs with one worker process", flush=True)
    with worker_process(url, None, log) as worker:
        done = await wait_until(lambda: db.count(url, "succeeded") >= n, scale.timeout_s)
    first, last = db.span(url)
    # The target is the drain itself, first job start to last finish; the process start
    # (the interpreter importing pydantic, SQLAlchemy, asyncio) is shown on its own line.
    target = "≥ 3,000 jobs/s"
    if not done or first is None or last is None:
        report.add(Figure("drain", None, "jobs/s", target, False, "timed out"))
        return
    started = worker.started
    rate = n / (last - first)
    note = f"{last - first:.2f} s; worker CPU {worker.cpu_s:.2f} s"
    report.add(Figure("drain", rate, "jobs/s", target, rate >= 3000, note))
    report.add(Figure("worker startup (to first job start)", first - started, "s"))
    report.add(Figure("drain, counting startup", n / (last - started), "jobs/s"))


async def bench_naps(db: Database, scale: Scale, report: Report, log: IO[bytes]) -> None:
    """Figure 3: many 50 ms jobs at concurrency 100, first start to last finish."""
    n, c = scale.nap_jobs, scale.nap_concurrency
    ideal = scale.nap_ideal_s
    name = f"{n:,} × {scale.nap_s * 1000:.0f} ms at concurrency {c}"
    print(f"3. {name} (ideal {ideal:.2f} s)", flush=True)
    url = db.fresh("naps")
    async with opened(url) as app:
        await submit_parallel(app, "nap", n, {"seconds": scale.nap_s}, scale.submitters)
    with worker_process(url, c, log) as worker:
        done = await wait_until(lambda: db.count(url, "succeeded") >= n, scale.timeout_s)
    first, last = db.span(url)
    target = f"≤ {ideal * 1.5:.1f} s"
    if not done or first is None or last is None:
        report.add(Figure(name, None, "s", target, False, "timed out"))
        return
    wall = last - first
    note = f"ideal {ideal:.2f} s; worker CPU {worker.cpu_s:.2f} s"
    report.add(Figure(name, wall, "s", target, wall <= ideal * 1.5, note))


async def bench_latency(db: Database, scale: Scale, report: Report, log: IO[bytes]) -> None:
    """Figure 4: submit-to-handler-start latency of single jobs to an idle worker."""
    n = scale.latency_jobs
    print(f"4. idle latency, submit → handler start, over {n} jobs one at a time", flush=True)
    url = db.fresh("latency")
    latencies: list[float] = []
    async with opened(url) as app:
        with worker_process(url, None, log):
            warm = await app.submit("stamp", {})  # the worker is up and idle after this one
            await app.wait(warm.id, timeout=60)
            await asyncio.sleep(0.5)
            deadline = time.monotonic() + scale.timeout_s
            for _ in range(n):
                if time.monotonic() > deadline:
                    break
                t0 = time.time()
                job = await app.submit("stamp", {})
                job = await app.wait(job.id, timeout=30)
                if job.status is bb.JobStatus.SUCCEEDED:
                    latencies.append(job.output - t0)
                await asyncio.sleep(0.02)  # let the worker settle back into idle
    if len(latencies) < n:
        report.add(Figure("idle latency p50", None, "ms", "≤ 10 ms", False, "timed out"))
        return
    ms = [v * 1000 for v in latencies]
    p50, p99 = statistics.median(ms), percentile(ms, 0.99)
    report.add(Figure("idle latency p50", p50, "ms", "≤ 10 ms", p50 <= 10))
    report.add(Figure("idle latency p99", p99, "ms", note=f"max {max(ms):.1f} ms"))


# ── main ──────────────────────────────────────────────────────────────────────────────
FIGURES = ("submit", "drain", "naps", "latency")


async def run(scale: Scale, db: Database, directory: Path, only: set[str]) -> Report:
    report = Report()
    log_path = directory / "workers.log"
    try:
        with log_path.open("wb") as log:
            url = await bench_submit(db, scale, report) if "submit" in only else None
            if "drain" in only:
                await bench_drain(db, scale, report, url, log)
            if "naps" in only:
                await bench_naps(db, scale, report, log)
            if "latency" in only:
                await bench_latency(db, scale, report, log)
    finally:
        worker_log = log_path.read_text(errors="replace").strip() if log_path.exists() else ""
        if worker_log:  # warnings and errors only: a clean run prints nothing here
            print("\nworker output (last 4,000 characters):\n" + worker_log[-4000:])
    return report


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--jobs", type=float, default=1.0, metavar="FACTOR", help="scale every job count"
    )
    group.add_argument("--quick", action="store_true", help="a fast smoke run (--jobs 0.05)")
    parser.add_argument(
        "--only",
        default=",".join(FIGURES),
        metavar="NAMES",
        help=f"comma-separated figures to run, of {','.join(FIGURES)} (default: all)",
    )
    args = parser.parse_args(argv)
    args.only = {name.strip() for name in args.only.split(",") if name.strip()}
    if unknown := args.only - set(FIGURES):
        parser.error(f"--only: unknown figures {', '.join(sorted(unknown))}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    factor = 0.05 if args.quick else args.jobs
    if factor <= 0:
        raise SystemExit("--jobs must be > 0")
    scale = Scale.scaled(factor)
    with tempfile.TemporaryDirectory(prefix="bb-bench-") as tmp:
        directory = Path(tmp)
        db = SqliteFiles(directory)
        version = importlib.metadata.version("backburner")
        print(f"backburner {version} throughput — {db.label}, {os.cpu_count()} CPUs")
        print(f"python {sys.version.split()[0]}, job scale ×{factor:g}\n", flush=True)
        try:
            report = asyncio.run(run(scale, db, directory, args.only))
        finally:
            db.close()
    print("\n" + report.table())
    failed = [f.name for f in report.figures if f.passed is False]
    if args.quick:
        return 0  # a smoke run checks the script works, not the targets
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
