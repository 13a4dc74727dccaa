"""Throughput and latency of backburner on each database named: by default the embedded
default, a SQLite file with default settings; with ``--database postgresql://…`` also (or
instead) PostgreSQL, measured in turn in the same run and printed side by side.

```
.venv/bin/python bench/throughput.py            # the full run on SQLite (about two minutes)
.venv/bin/python bench/throughput.py --quick    # a smoke run: does the script still work?
.venv/bin/python bench/throughput.py --jobs 0.5 # every job count halved
.venv/bin/python bench/throughput.py --database sqlite \
    --database 'postgresql://postgres@127.0.0.1:5432/test?schema=bench_tp'
```

Figures (each on a fresh database of its own: a file in a temporary directory, or a schema
named ``<schema>_<figure>`` that is dropped at the end):

1. submit rate: sequential ``await app.submit`` in one process, and 10 coroutines at once;
2. drain rate: N pre-submitted no-op jobs, drained by one ``backburner worker`` process and
   then (figure 1's other jobs) by two at once, timed from the first job start to the last
   finish (the target), with startup shown on its own;
3. wall time of 2,000 jobs that each sleep 50 ms, one worker at ``--concurrency 100``;
4. idle latency: one job at a time to an idle worker, submit call to handler entry.

Targets: SQLite drain ≥ 3,000 jobs/s with one worker process, naps ≤ 1.5 × ideal, idle p50
≤ 10 ms; PostgreSQL drain ≥ 2,000 jobs/s with two worker processes, idle p50 ≤ 15 ms.
Everything is bounded: every wait has a deadline, and a worker that does not finish in time
makes its figure fail rather than the script hang.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as `python bench/throughput.py`
    sys.path.insert(0, str(ROOT))

import backburner as bb  # noqa: E402
from bench.bench_app import build_app  # noqa: E402
from bench.throughput_parts import (  # noqa: E402
    Database,
    Figure,
    Report,
    Scale,
    open_database,
    side_by_side,
    worker_processes,
)

POLL_S = 0.05


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
async def bench_submit(db: Database, scale: Scale, report: Report) -> tuple[str, str]:
    """Figure 1; returns the URLs of its two databases (the drains' queued jobs)."""
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
    return url, parallel_url


async def bench_drain(
    db: Database, scale: Scale, report: Report, url: str | None, log: IO[bytes], processes: int
) -> None:
    """Figure 2: ``processes`` worker processes drain pre-submitted no-op jobs (figure 1's,
    if it ran)."""
    if url is None:
        url = db.fresh(f"drain_{processes}")
        async with opened(url) as app:
            await submit_parallel(app, "noop", scale.drain_jobs, {}, scale.submitters)
    n = db.count(url, "queued")
    many = "process" if processes == 1 else "processes"
    print(f"2. drain {n:,} queued no-op jobs with {processes} worker {many}", flush=True)
    with worker_processes(url, None, log, processes) as worker:
        done = await wait_until(lambda: db.count(url, "succeeded") >= n, scale.timeout_s)
    first, last = db.span(url)
    # The target is the drain itself, first job start to last finish; the process start
    # (the interpreter importing pydantic, SQLAlchemy, asyncio) is shown on its own line.
    goal = db.targets
    has_target = processes == goal.drain_processes
    target = f"≥ {goal.drain_rate:,.0f} jobs/s" if has_target else ""
    name = f"drain, {processes} {'worker' if processes == 1 else 'workers'}"
    if not done or first is None or last is None:
        report.add(Figure(name, None, "jobs/s", target, False if has_target else None, "timed out"))
        return
    started = worker.started
    rate = n / (last - first)
    note = f"{last - first:.2f} s; worker CPU {worker.cpu_s:.2f} s"
    report.add(
        Figure(name, rate, "jobs/s", target, rate >= goal.drain_rate if has_target else None, note)
    )
    report.add(Figure(f"{name}: startup to first start", first - started, "s"))
    report.add(Figure(f"{name}, with startup", n / (last - started), "jobs/s"))


async def bench_naps(db: Database, scale: Scale, report: Report, log: IO[bytes]) -> None:
    """Figure 3: many 50 ms jobs at concurrency 100, first start to last finish."""
    n, c = scale.nap_jobs, scale.nap_concurrency
    ideal = scale.nap_ideal_s
    name = f"{n:,} × {scale.nap_s * 1000:.0f} ms at concurrency {c}"
    print(f"3. {name} (ideal {ideal:.2f} s)", flush=True)
    url = db.fresh("naps")
    async with opened(url) as app:
        await submit_parallel(app, "nap", n, {"seconds": scale.nap_s}, scale.submitters)
    with worker_processes(url, c, log) as worker:
        done = await wait_until(lambda: db.count(url, "succeeded") >= n, scale.timeout_s)
    first, last = db.span(url)
    factor = db.targets.naps_factor
    target = "" if factor is None else f"≤ {ideal * factor:.1f} s"
    if not done or first is None or last is None:
        report.add(Figure(name, None, "s", target, None if factor is None else False, "timed out"))
        return
    wall = last - first
    passed = None if factor is None else wall <= ideal * factor
    note = f"ideal {ideal:.2f} s; worker CPU {worker.cpu_s:.2f} s"
    report.add(Figure(name, wall, "s", target, passed, note))


async def bench_latency(db: Database, scale: Scale, report: Report, log: IO[bytes]) -> None:
    """Figure 4: submit-to-handler-start latency of single jobs to an idle worker."""
    n = scale.latency_jobs
    print(f"4. idle latency, submit → handler start, over {n} jobs one at a time", flush=True)
    url = db.fresh("latency")
    latencies: list[float] = []
    async with opened(url) as app:
        with worker_processes(url, None, log):
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
    goal = db.targets.p50_ms
    target = f"≤ {goal:g} ms"
    if len(latencies) < n:
        report.add(Figure("idle latency p50", None, "ms", target, False, "timed out"))
        return
    ms = [v * 1000 for v in latencies]
    p50, p99 = statistics.median(ms), percentile(ms, 0.99)
    report.add(Figure("idle latency p50", p50, "ms", target, p50 <= goal))
    report.add(Figure("idle latency p99", p99, "ms", note=f"max {max(ms):.1f} ms"))


# ── main ──────────────────────────────────────────────────────────────────────────────
FIGURES = ("submit", "drain", "naps", "latency")


async def run(scale: Scale, db: Database, directory: Path, only: set[str]) -> Report:
    """Every figure in ``only`` on ``db``, in order."""
    report = Report()
    log_path = directory / f"workers-{db.name}.log"
    try:
        with log_path.open("wb") as log:
            urls: tuple[str | None, str | None] = (None, None)
            if "submit" in only:
                urls = await bench_submit(db, scale, report)
            if "drain" in only:
                await bench_drain(db, scale, report, urls[0], log, processes=1)
                await bench_drain(db, scale, report, urls[1], log, processes=2)
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
    parser.add_argument(
        "--database",
        action="append",
        metavar="URL",
        help="sqlite (a file per figure, the default) or postgresql://…?schema=prefix; "
        "repeat it or give a comma-separated list to measure each in turn",
    )
    args = parser.parse_args(argv)
    args.only = {name.strip() for name in args.only.split(",") if name.strip()}
    if unknown := args.only - set(FIGURES):
        parser.error(f"--only: unknown figures {', '.join(sorted(unknown))}")
    specs = [s.strip() for given in args.database or ["sqlite"] for s in given.split(",")]
    args.database = [s for s in specs if s]
    for spec in args.database:  # before any figure runs, not after the first database
        if spec != "sqlite" and not spec.startswith(
            ("postgresql://", "postgres://", "postgresql+psycopg://")
        ):
            parser.error(f"--database: expected sqlite or postgresql://…, got {spec!r}")
    return args


def measure(spec: str, scale: Scale, only: set[str]) -> tuple[str, Report]:
    """All figures on the database ``spec`` names; its column title and its figures."""
    with tempfile.TemporaryDirectory(prefix="bb-bench-") as tmp:
        directory = Path(tmp)
        db = open_database(spec, directory)
        try:
            print(f"\n── {db.label} ──", flush=True)
            return db.name, asyncio.run(run(scale, db, directory, only))
        finally:
            db.close()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    factor = 0.05 if args.quick else args.jobs
    if factor <= 0:
        raise SystemExit("--jobs must be > 0")
    scale = Scale.scaled(factor)
    version = importlib.metadata.version("backburner")
    print(f"backburner {version} throughput — {os.cpu_count()} CPUs, load {_load()}")
    print(f"python {sys.version.split()[0]}, job scale ×{factor:g}", flush=True)
    reports = [measure(spec, scale, args.only) for spec in args.database]
    print(f"\nload average at the end: {_load()}\n")
    print(side_by_side(reports))
    failed = [f.name for _, r in reports for f in r.figures if f.passed is False]
    if args.quick:
        return 0  # a smoke run checks the script works, not the targets
    return 1 if failed else 0


def _load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


if __name__ == "__main__":
    sys.exit(main())
