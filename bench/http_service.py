"""The HTTP service under load: a real ``backburner serve`` process on a loopback port.

```
.venv/bin/python bench/http_service.py          # the full run (about two minutes)
.venv/bin/python bench/http_service.py --quick  # a smoke run (a few seconds): does it still work?
.venv/bin/python bench/http_service.py --only sse --watchers 200
.venv/bin/python bench/http_service.py --processes 1  # one API process, the worker inside it
```

Figures, each server on a fresh SQLite file in a temporary directory, started with
``--log-level WARNING`` (no access log) and ``--processes N`` (default: the number of CPUs;
above 1, figure 3's worker runs in a process of its own):

1. submit throughput: ``POST /v1/jobs`` over ``--concurrency`` keep-alive connections, the
   server started with ``--no-worker`` so only the API is measured;
2. ``GET /v1/jobs/{id}`` latency, p50/p99, from ``--readers`` connections reading the jobs
   of figure 1 as fast as they are answered, for ``--seconds``;
3. SSE fan-out: ``--watchers`` running ``ticker`` jobs (``bench/http_app.py``), one
   ``GET /v1/jobs/{id}/events`` stream each, on a server with its embedded worker; each job
   reports progress every ``--every`` seconds (phases spread evenly) with its write time in
   the message; the delay is the time the watcher read the frame minus that write time.

The load client (``bench/http_load.py``) runs in a process of its own. **The machine has 2
cores: the server, the client and anything else running share them**, so every figure
includes the client's cost; the CPU each used is printed with each figure.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as `python bench/http_service.py`, this file's directory comes first on sys.path, where this
# file would stand in for the standard library's `http` package: take it off.
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)

import argparse
import contextlib
import importlib.metadata
import json
import os
import resource
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, fields, replace
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BIN = str(Path(sys.executable).parent / "backburner")
APP = "bench.http_app:app"
LOAD = "bench.http_load"
FIGURES = ("submit", "get", "sse")
CLOCK_HZ = os.sysconf("SC_CLK_TCK")  # the unit of CPU times in /proc/<pid>/stat


# ── sizes ─────────────────────────────────────────────────────────────────────────────
@dataclass(frozen=True)
class Sizes:
    """How much load each figure applies, and for how long."""

    submits: int = 10_000
    concurrency: int = 32
    readers: int = 8
    seconds: float = 10.0
    watchers: int = 500
    every: float = 5.0
    #: Figure 3's worker: 0 runs it inside the server, N as ``--workers N`` processes.
    worker_processes: int = 0
    #: API processes of each server (``serve --processes N``).
    processes: int = field(default_factory=lambda: os.cpu_count() or 2)
    #: Figures 1 and 2's server counts submits against this ``BACKBURNER_RATE_LIMIT``.
    rate_limit: str | None = None
    timeout_s: float = 120.0

    @property
    def ticks(self) -> int:
        """Progress updates per ticker job: one every ``every`` s for ``seconds``."""
        return max(1, round(self.seconds / self.every))

    @property
    def lead_s(self) -> float:
        """Time to submit the ticker jobs and open every stream before the first tick."""
        return 2.0 + self.watchers * 0.02


QUICK = Sizes(submits=500, concurrency=16, readers=8, seconds=2.0, watchers=50, every=0.5)


# ── results ───────────────────────────────────────────────────────────────────────────
@dataclass
class Figure:
    """One line of the final table; ``passed`` is None when the figure has no target."""

    name: str
    value: float | None
    unit: str
    target: str = ""
    passed: bool | None = None
    note: str = ""

    def show(self) -> str:
        if self.value is None:
            return "—"
        return f"{self.value:,.{0 if self.unit == '/s' else 1}f} {self.unit}"


@dataclass
class Report:
    """The figures so far; each is printed as it is added."""

    figures: list[Figure] = field(default_factory=list)

    def add(self, figure: Figure) -> None:
        self.figures.append(figure)
        note = f"  ({figure.note})" if figure.note else ""
        print(f"  {figure.name}: {figure.show()}{note}", flush=True)

    def table(self) -> str:
        rows = [("figure", "value", "target", "result")]
        for f in self.figures:
            result = "" if f.passed is None else ("PASS" if f.passed else "MISS")
            rows.append((f.name, f.show(), f.target, result))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        lines = [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
        lines.insert(1, "-+-".join("-" * w for w in widths))
        return "\n".join(lines)


# ── the server ────────────────────────────────────────────────────────────────────────
@dataclass
class Server:
    """A running ``backburner serve`` process: its port, an API key, and its CPU use."""

    port: int
    key: str
    proc: subprocess.Popen[bytes]
    log: Path

    def cpu_s(self) -> float:
        """User + system CPU seconds so far of the server and its worker processes, if any."""
        pids = [self.proc.pid]
        for children in Path(f"/proc/{self.proc.pid}/task").glob("*/children"):
            with contextlib.suppress(FileNotFoundError):  # a thread that has just ended
                pids += [int(pid) for pid in children.read_text().split()]
        return sum(_process_cpu_s(pid) for pid in pids)


def _process_cpu_s(pid: int) -> float:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:  # it has just exited
        return 0.0
    after_name = stat.rsplit(")", 1)[1].split()
    return (int(after_name[11]) + int(after_name[12])) / CLOCK_HZ


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serving(
    directory: Path, name: str, processes: int, *extra: str, env: dict[str, str]
) -> Iterator[Server]:
    """``backburner serve --processes N`` on a fresh database ``name``.db, stopped with SIGTERM
    on exit."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKBURNER_")} | env
    env["BACKBURNER_DATABASE_URL"] = f"sqlite:///{directory / f'{name}.db'}"
    made = subprocess.run(
        [BIN, "keys", "create", "--owner", "bench"],
        env=env, cwd=ROOT, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    port, log = free_port(), directory / f"{name}.log"
    command = [BIN, "serve", APP, "--port", str(port), "--log-level", "WARNING", *extra]
    command += ["--processes", str(processes)]
    with log.open("wb") as out:
        proc = subprocess.Popen(command, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    server = Server(port, made.stdout.strip(), proc, log)
    try:
        _wait_ready(server)
        yield server
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_ready(server: Server) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=1):
                return
        except OSError:
            pass
        if server.proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the server did not start:\n{server.log.read_text()[-3000:]}")
        time.sleep(0.05)


def load(server: Server, figure: str, limit_s: float, **spec: Any) -> dict[str, Any]:
    """Run the load client for one figure: its result, with the wall time of its process and
    the CPU seconds it and the server used meanwhile."""
    spec |= {"figure": figure, "port": server.port, "key": server.key}
    server0, client0, t0 = server.cpu_s(), _children_cpu_s(), time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", LOAD], input=json.dumps(spec), cwd=ROOT,
        capture_output=True, text=True, timeout=limit_s,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"the load client failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    result["wall_s"] = time.perf_counter() - t0
    result["server_cpu_s"] = server.cpu_s() - server0
    result["client_cpu_s"] = _children_cpu_s() - client0
    return result


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # children that have been waited for
    return usage.ru_utime + usage.ru_stime


def cpu_note(result: dict[str, Any]) -> str:
    """The CPU the server and the load client used while the client ran, in cores."""
    wall = result["wall_s"]
    server, client = result["server_cpu_s"] / wall, result["client_cpu_s"] / wall
    return f"CPU over {wall:.1f} s: server {server:.2f} cores, client {client:.2f} cores"


# ── figures ───────────────────────────────────────────────────────────────────────────
def bench_submit(server: Server, sizes: Sizes, report: Report) -> list[str]:
    """Figure 1: the submit rate; returns the ids of the jobs made."""
    n, c = sizes.submits, sizes.concurrency
    print(f"1. submit: {n:,} × POST /v1/jobs, {c} connections (API processes: {sizes.processes})")
    r = load(
        server, "submit", sizes.timeout_s + 60, submits=n, concurrency=c, timeout_s=sizes.timeout_s
    )
    ok = r["statuses"].get("202", 0)
    rate = ok / r["elapsed_s"]
    lat = r["latency_ms"]
    note = f"{r['elapsed_s']:.2f} s; {cpu_note(r)}; statuses {r['statuses']}"
    passed = rate >= 1500 and ok == n and not r["timed_out"]
    report.add(Figure("submit rate", rate, "/s", "≥ 1,500/s", passed, note))
    note = f"max {lat['max']:.1f} ms" if lat else ""
    report.add(Figure("submit latency p50", lat.get("p50"), "ms", note=""))
    report.add(Figure("submit latency p99", lat.get("p99"), "ms", note=note))
    return list(r["ids"])


def bench_get(server: Server, sizes: Sizes, report: Report, ids: list[str]) -> None:
    """Figure 2: GET latency under ``readers`` concurrent connections."""
    s, readers = sizes.seconds, sizes.readers
    print(f"2. GET /v1/jobs/{{id}}: {readers} connections, {s:g} s, {len(ids):,} jobs", end=" ")
    print(f"(API processes: {sizes.processes})")
    r = load(server, "get", s + 60, ids=ids, readers=readers, seconds=s, max_requests=10_000_000)
    lat = r["latency_ms"]
    rate = lat.get("count", 0) / r["elapsed_s"]
    bad = {k: v for k, v in r["statuses"].items() if k != "200"}
    note = f"{rate:,.0f} GET/s; {cpu_note(r)}" + (f"; non-200 {bad}" if bad else "")
    report.add(Figure("GET latency p50", lat.get("p50"), "ms", note=note))
    p99 = lat.get("p99")
    passed = p99 is not None and p99 <= 10 and not bad
    report.add(
        Figure("GET latency p99", p99, "ms", "≤ 10 ms", passed, f"max {lat.get('max', 0):.1f} ms")
    )


def bench_sse(server: Server, sizes: Sizes, report: Report) -> None:
    """Figure 3: SSE delivery delay with ``watchers`` streams of running, ticking jobs."""
    w, every, ticks = sizes.watchers, sizes.every, sizes.ticks
    print(
        f"3. SSE: {w} watchers, one per running job; each job reports progress every "
        f"{every:g} s, {ticks} times ({w / every:,.0f} updates/s in all; "
        f"API processes: {sizes.processes})",
        flush=True,
    )
    wall = sizes.lead_s + every * (ticks + 1)
    r = load(
        server, "sse", wall + sizes.timeout_s + 60, watchers=w, every=every, ticks=ticks,
        lead_s=sizes.lead_s, slack_s=sizes.timeout_s,
    )  # fmt: skip
    delay, db = r["delay_ms"], r["db_delay_ms"]
    late = (r["last_connected_at"] or 0) - r["start_at"]
    note = (
        f"{r['received']:,} of {r['expected']:,} updates delivered live"
        f"; {r['finished_streams']} streams ended after the terminal event"
        f"; {cpu_note(r)}"
    )
    if r["early"] or late > 0:
        note += f"; {r['early']} written before their watcher connected (last {late:+.2f} s)"
    if r["errors"]:
        note += f"; errors {r['errors']}"
    complete = r["received"] == r["expected"] and not r["unfinished_streams"]
    report.add(Figure("SSE delay p50", delay.get("p50"), "ms", note=note))
    p99 = delay.get("p99")
    passed = p99 is not None and p99 <= 100 and complete
    report.add(
        Figure("SSE delay p99", p99, "ms", "≤ 100 ms", passed, f"max {delay.get('max', 0):.1f} ms")
    )
    # The same frames timed from the event's created_at (the insert, before the commit):
    # what is left once the update has been written, i.e. the fan-out itself.
    note = f"max {db.get('max', 0):.1f} ms"
    report.add(Figure("SSE delay after the insert p50", db.get("p50"), "ms"))
    report.add(Figure("SSE delay after the insert p99", db.get("p99"), "ms", note=note))
    # The part before the insert: ctx.progress() queued for, and running in, the writer.
    writes = r["write_delay_ms"]
    note = f"max {writes.get('max', 0):.1f} ms"
    report.add(Figure("progress write (call → insert) p99", writes.get("p99"), "ms", note=note))


# ── main ──────────────────────────────────────────────────────────────────────────────
def run(sizes: Sizes, only: set[str], directory: Path) -> Report:
    report = Report()
    if only & {"submit", "get"}:
        env = {"BACKBURNER_RATE_LIMIT": sizes.rate_limit} if sizes.rate_limit else {}
        with serving(directory, "api", sizes.processes, "--no-worker", env=env) as server:
            warm = replace(sizes, submits=min(sizes.submits, 2000))
            ids = bench_submit(server, sizes if "submit" in only else warm, report)
            if "get" in only:
                bench_get(server, sizes, report, ids)
    if "sse" in only:
        env = {"BACKBURNER_CONCURRENCY": str(sizes.watchers + 10)}
        workers = ("--workers", str(sizes.worker_processes)) if sizes.worker_processes else ()
        with serving(directory, "sse", sizes.processes, *workers, env=env) as server:
            bench_sse(server, sizes, report)
    return report


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    d = Sizes()
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument(
        "--quick", action="store_true", help="a smoke run of a few seconds (sizes fixed); exits 0"
    )
    p.add_argument("--submits", type=int, default=d.submits, help="POSTs in figure 1")
    p.add_argument("--concurrency", type=int, default=d.concurrency, help="connections, fig. 1")
    p.add_argument("--readers", type=int, default=d.readers, help="connections in figure 2")
    p.add_argument("--seconds", type=float, default=d.seconds, help="length of figures 2 and 3")
    p.add_argument("--watchers", type=int, default=d.watchers, help="SSE streams in figure 3")
    p.add_argument("--every", type=float, default=d.every, help="s between a job's updates")
    p.add_argument(
        "--worker-processes",
        type=int,
        default=d.worker_processes,
        help="figure 3: run the worker as N processes (serve --workers N), not in the server",
    )
    p.add_argument("--processes", type=int, default=d.processes, help="API processes per server")
    p.add_argument(
        "--rate-limit",
        metavar="RATE",
        help="figures 1–2: serve with BACKBURNER_RATE_LIMIT=RATE; one no run reaches "
        "(1000000/s) measures what counting submits costs",
    )
    p.add_argument("--only", default=",".join(FIGURES), help=f"some of {','.join(FIGURES)}")
    args = p.parse_args(argv)
    args.only = {name.strip() for name in args.only.split(",") if name.strip()}
    if unknown := args.only - set(FIGURES):
        p.error(f"--only: unknown figures {', '.join(sorted(unknown))}")
    return args


def sizes_from(args: argparse.Namespace) -> Sizes:
    if args.quick:
        return replace(QUICK, processes=args.processes, rate_limit=args.rate_limit)
    names = [f.name for f in fields(Sizes) if f.name != "timeout_s"]
    sizes = Sizes(**{n: getattr(args, n) for n in names})
    if min(sizes.submits, sizes.concurrency, sizes.readers, sizes.watchers) < 1:
        raise SystemExit("--submits, --concurrency, --readers and --watchers must be ≥ 1")
    if sizes.worker_processes < 0 or sizes.processes < 1:
        raise SystemExit("--worker-processes must be ≥ 0 and --processes ≥ 1")
    if sizes.seconds <= 0 or sizes.every <= 0:
        raise SystemExit("--seconds and --every must be > 0")
    return sizes


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = sizes_from(args)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # headings at once
    version = importlib.metadata.version("backburner")
    load_avg = "/".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"backburner {version} HTTP — a real `backburner serve`, SQLite file, {sizes}")
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs shared by the server, the load "
        f"client (its own process) and anything else running; load average {load_avg}\n",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="bb-bench-http-") as tmp:
        report = run(sizes, args.only, Path(tmp))
    print("\n" + report.table())
    print(f"\nload average at the end: {'/'.join(f'{x:.2f}' for x in os.getloadavg())}")
    missed = [f.name for f in report.figures if f.passed is False]
    return 0 if args.quick or not missed else 1


if __name__ == "__main__":
    sys.exit(main())
