"""The parts of `bench/throughput.py` that are not figures: the databases under test, the
worker subprocesses, the job counts and the table of results.

A database is named on the command line: ``sqlite`` (a fresh SQLite file per figure in a
temporary directory, the embedded default) or a ``postgresql://…`` URL (a fresh schema per
figure, named after the URL's ``?schema=`` (default ``bench``) and the figure, dropped at
the end). Each carries the issue's targets for that backend.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parents[1]
WORKER_APP = "bench.bench_app:app"


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
        """Every job count × ``factor``, each kept above the least its figure needs."""
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


# ── targets ───────────────────────────────────────────────────────────────────────────
@dataclass(frozen=True)
class Targets:
    """One backend's targets: the drain rate with ``drain_processes`` worker processes,
    the nap run as a multiple of its ideal (``None``: no target), and the idle p50."""

    drain_processes: int
    drain_rate: float
    naps_factor: float | None
    p50_ms: float


SQLITE_TARGETS = Targets(drain_processes=1, drain_rate=3000, naps_factor=1.5, p50_ms=10)
POSTGRES_TARGETS = Targets(drain_processes=2, drain_rate=2000, naps_factor=None, p50_ms=15)


# ── the databases under test ──────────────────────────────────────────────────────────
class Database(Protocol):
    """Where the figures run: a fresh database per figure, and cheap counting queries."""

    name: str  # a column title: "SQLite", "PostgreSQL"
    label: str  # the header line
    targets: Targets

    def fresh(self, name: str) -> str:
        """The URL of a new, empty database for one figure."""
        ...

    def count(self, url: str, status: str) -> int:
        """How many jobs have ``status``."""
        ...

    def span(self, url: str) -> tuple[float | None, float | None]:
        """The first ``started_at`` and the last ``finished_at``, in epoch seconds."""
        ...

    def close(self) -> None:
        """Close the counting connections, and drop what `fresh` made (if not a file)."""
        ...


class SqliteFiles:
    """One SQLite file per figure in a temporary directory (the embedded default)."""

    name = "SQLite"
    label = "SQLite file, default settings"
    targets = SQLITE_TARGETS

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
        sql_ = "SELECT COUNT(*) FROM jobs WHERE status = ?"
        return int(self._conn(url).execute(sql_, (status,)).fetchone()[0])

    def span(self, url: str) -> tuple[float | None, float | None]:
        first, last = self._conn(url).execute(_SPAN_SQL).fetchone()
        return first, last

    def close(self) -> None:
        for conn in self._conns.values():
            conn.close()
        self._conns.clear()


_SPAN_SQL = "SELECT MIN(started_at), MAX(finished_at) FROM jobs"


class PostgresSchemas:
    """One schema per figure on a PostgreSQL server, each dropped by `close`."""

    name = "PostgreSQL"
    targets = POSTGRES_TARGETS

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        query = parse_qsl(parts.query)
        self.prefix = dict(query).get("schema", "bench")
        self._query = [(k, v) for k, v in query if k != "schema"]
        self._base = urlunsplit(parts._replace(query=urlencode(self._query)))
        # autocommit: every SELECT sees the latest commit, and holds no snapshot
        self._conn = psycopg.connect(self._base, autocommit=True)
        self._schemas: dict[str, str] = {}  # URL → schema
        version = self._conn.execute("SHOW server_version").fetchone()
        where = f"{parts.hostname}:{parts.port or 5432}{parts.path}"
        self.label = f"PostgreSQL {version[0] if version else '?'} at {where}"

    def fresh(self, name: str) -> str:
        schema = f"{self.prefix}_{name}"
        # a schema left by an interrupted run would not be empty
        self._conn.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
        )
        url = urlunsplit(
            urlsplit(self._base)._replace(query=urlencode([*self._query, ("schema", schema)]))
        )
        self._schemas[url] = schema
        return url

    def _one(self, query: str, url: str, *params: Any) -> tuple[Any, ...]:
        table = sql.Identifier(self._schemas[url], "jobs")
        row = self._conn.execute(sql.SQL(query).format(table), params).fetchone()
        assert row is not None
        return tuple(row)

    def count(self, url: str, status: str) -> int:
        return int(self._one("SELECT COUNT(*) FROM {} WHERE status = %s", url, status)[0])

    def span(self, url: str) -> tuple[float | None, float | None]:
        first, last = self._one("SELECT MIN(started_at), MAX(finished_at) FROM {}", url)
        return first, last

    def close(self) -> None:
        self._conn.close()
        if not self._schemas:
            return
        # a connection of its own: the counting one may have been lost with the figure
        with psycopg.connect(self._base, autocommit=True) as conn:
            for schema in self._schemas.values():
                drop = sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE")
                conn.execute(drop.format(sql.Identifier(schema)))
        self._schemas.clear()


def open_database(spec: str, directory: Path) -> Database:
    """``sqlite`` → `SqliteFiles` in ``directory``; ``postgresql://…`` → `PostgresSchemas`."""
    if spec == "sqlite":
        return SqliteFiles(directory)
    if spec.split("://", 1)[0] in {"postgresql", "postgres", "postgresql+psycopg"}:
        try:
            return PostgresSchemas(spec.replace("postgresql+psycopg://", "postgresql://", 1))
        except psycopg.OperationalError as exc:
            raise SystemExit(f"--database {spec}: {str(exc).strip()}") from None
    raise SystemExit(f"--database: expected sqlite or postgresql://…, got {spec!r}")


# ── worker processes ──────────────────────────────────────────────────────────────────
@dataclass
class WorkerRun:
    """Worker subprocesses: when they were started, and the CPU they used (once exited)."""

    started: float
    cpu_s: float | None = None


@contextlib.contextmanager
def worker_processes(
    url: str, concurrency: int | None, log: IO[bytes], processes: int = 1
) -> Iterator[WorkerRun]:
    """``processes`` × ``backburner worker`` subprocesses on ``url``, stopped with SIGTERM
    on exit (killed if one does not stop within 30 s). Their CPU time (user + system) is
    read from ``RUSAGE_CHILDREN``, which counts a child once it has been waited for."""
    command = [sys.executable, "-m", "backburner.cli", "worker", WORKER_APP]
    command += ["--log-level", "WARNING"]
    if concurrency is not None:
        command += ["--concurrency", str(concurrency)]
    env = {**os.environ, "BACKBURNER_DATABASE_URL": url}
    before = _children_cpu_s()
    run = WorkerRun(started=time.time())
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for _ in range(processes):
            procs.append(subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log))
        yield run
        if codes := [p.returncode for p in procs if p.poll() is not None]:
            raise RuntimeError(f"a worker exited early with code {codes[0]}")
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        run.cpu_s = _children_cpu_s() - before


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


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
        """The value with its unit, or a dash when it was not measured."""
        if self.value is None:
            return "—"
        digits = 0 if self.unit == "jobs/s" else (1 if self.unit == "ms" else 3)
        return f"{self.value:,.{digits}f} {self.unit}"

    @property
    def result(self) -> str:
        """PASS, MISS, or empty for a figure without a target."""
        return "" if self.passed is None else ("PASS" if self.passed else "MISS")


@dataclass
class Report:
    """One database's figures, printed as they are added."""

    figures: list[Figure] = field(default_factory=list)

    def add(self, figure: Figure) -> Figure:
        """Keep ``figure`` and print it with its note."""
        self.figures.append(figure)
        note = f"  ({figure.note})" if figure.note else ""
        print(f"  {figure.name}: {figure.show()}{note}", flush=True)
        return figure


def side_by_side(reports: list[tuple[str, Report]]) -> str:
    """The figures of every database in columns (value, target, result), in the order
    they were measured, with each later database's value as a ratio of the first's."""
    names: list[str] = []
    for _, report in reports:
        names += [f.name for f in report.figures if f.name not in names]
    header = ["figure"]
    for i, (db_name, _) in enumerate(reports):
        header += [db_name, "target", "result"]
        if i:
            header.append(f"{db_name}/{reports[0][0]}")
    rows = [header]
    for name in names:
        found = [{f.name: f for f in r.figures}.get(name) for _, r in reports]
        row = [name]
        for i, fig in enumerate(found):
            row += [fig.show(), fig.target, fig.result] if fig else ["", "", ""]
            if i:
                row.append(_ratio(found[0], fig))
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def _ratio(first: Figure | None, other: Figure | None) -> str:
    if first is None or other is None or not first.value or other.value is None:
        return ""
    return f"{other.value / first.value:.2f}"
