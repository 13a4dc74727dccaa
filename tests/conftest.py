"""Shared fixtures: a fresh database per test on each backend, apps on it, waiting on state.

Every test that uses `db_url` (directly, or through `settings` or `app`) runs twice: on a
SQLite file of its own (``[sqlite]``) and in a PostgreSQL schema of its own, dropped
afterwards (``[postgresql]``, marked ``postgresql``: ``-m "not postgresql"`` leaves them out).
A test that depends on SQLite itself is marked ``sqlite_only``; the suites under
`SQLITE_ONLY_DIRS` are SQLite-only as a whole.

PostgreSQL is ``BACKBURNER_TEST_POSTGRES_URL`` (default: the server on this machine). When it
cannot be reached the PostgreSQL tests are skipped, saying why — except in CI (``CI=true``),
where that fails them.
"""

from __future__ import annotations

import asyncio
import faulthandler
import functools
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
import pytest
import sqlalchemy as sa
from _pytest.faulthandler import fault_handler_stderr_fd_key

import backburner as bb
from backburner.storage.postgres import engine_url

if TYPE_CHECKING:
    from tests.acceptance.conftest import Workers

POSTGRES_URL = os.environ.get(
    "BACKBURNER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
#: Whole suites that stay on SQLite: real worker processes frozen around SQLite's write lock
#: (acceptance), the command line (backend-neutral, and slow: a process per command), and
#: the browser client.
SQLITE_ONLY_DIRS = ("acceptance", "cli", "browser")
_TESTS = Path(__file__).parent


#: How long one test's teardown may take before the run stops with every thread's stack.
TEARDOWN_LIMIT_S = 120


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Iterator[None]:
    """Bound each teardown: pytest-timeout's alarm fires once per test, so a teardown stuck
    after a timed-out test (a thread it left blocked) would otherwise hold the run forever."""
    stderr = item.config.stash[fault_handler_stderr_fd_key]
    faulthandler.dump_traceback_later(TEARDOWN_LIMIT_S, exit=True, file=stderr)
    try:
        return (yield)
    finally:
        faulthandler.cancel_dump_traceback_later()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run each test that uses `db_url` on both backends (SQLite alone where it must)."""
    if "db_url" not in metafunc.fixturenames:
        return
    path = Path(metafunc.definition.path)
    sqlite_only = metafunc.definition.get_closest_marker("sqlite_only") is not None or any(
        path.is_relative_to(_TESTS / name) for name in SQLITE_ONLY_DIRS
    )
    backends: list[object] = ["sqlite"]
    if not sqlite_only:
        backends.append(pytest.param("postgresql", marks=pytest.mark.postgresql))
    metafunc.parametrize("db_url", backends, indirect=True)


@functools.cache
def _postgres_unreachable() -> str | None:
    """Why the test server cannot be used, or ``None`` when it can (asked once per run)."""
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        reason = (str(exc).strip() or type(exc).__name__).splitlines()[0]
        return f"PostgreSQL at {POSTGRES_URL} is unreachable ({reason})"


def admin_sql(sql: str, *params: object) -> list[tuple[Any, ...]]:
    """Run ``sql`` (``%s`` parameters) on the PostgreSQL test server, outside any test schema."""
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        cursor = conn.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


@pytest.fixture
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of this test's own: a SQLite file, or a PostgreSQL schema (`pg_url`)."""
    if getattr(request, "param", "sqlite") == "sqlite":
        yield f"sqlite:///{tmp_path / 'bb.db'}"
    else:
        yield from _postgres_schema()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL schema of this test's own, for tests of the PostgreSQL backend itself."""
    yield from _postgres_schema()


def _postgres_schema() -> Iterator[str]:
    """A URL naming a fresh schema (made by the first open, dropped afterwards). Its
    connections carry the schema's name, so one the test leaves open is found, closed, and
    fails the test."""
    reason = _postgres_unreachable()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI needs it")
        pytest.skip(f"{reason}; set BACKBURNER_TEST_POSTGRES_URL to test on PostgreSQL")
    schema = f"t_{uuid.uuid4().hex[:16]}"
    sep = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{sep}schema={schema}&application_name={schema}"
    leaked = _open_connections(schema)
    if leaked:
        admin_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = ANY(%s)", leaked
        )
    admin_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    assert not leaked, f"the test left {len(leaked)} PostgreSQL connections open"


def _open_connections(application_name: str, wait_s: float = 3.0) -> list[object]:
    """The server processes still serving connections by that name. A closed connection's
    process lingers a moment after the client has gone: give it ``wait_s`` to exit."""
    deadline = time.monotonic() + wait_s
    while True:
        pids = [
            row[0]
            for row in admin_sql(
                "SELECT pid FROM pg_stat_activity WHERE application_name = %s", application_name
            )
        ]
        if not pids or time.monotonic() > deadline:
            return pids
        time.sleep(0.02)


def direct_engine(db_url: str) -> sa.Engine:
    """An engine on a test database, past backburner (dispose of it when done)."""
    if db_url.startswith("sqlite"):
        return sa.create_engine(db_url, poolclass=sa.NullPool)
    url, schema = engine_url(db_url)
    options = {"options": f"-c search_path={schema}"} if schema else {}
    return sa.create_engine(url, poolclass=sa.NullPool, connect_args=options)


def run_sql(db_url: str, statement: str, **params: object) -> list[sa.Row[Any]]:
    """Run one statement (``:name`` parameters) on a test database directly, on either
    backend, and commit; its rows, if it returns any."""
    engine = direct_engine(db_url)
    try:
        with engine.begin() as conn:
            result = conn.execute(sa.text(statement), params)
            return list(result) if result.returns_rows else []
    finally:
        engine.dispose()


def count_rows(db_url: str, table: str = "jobs") -> int:
    """How many rows ``table`` holds in a test database."""
    return int(run_sql(db_url, f"SELECT COUNT(*) FROM {table}")[0][0])


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> bb.Settings:
    """Test settings: a short lease so lost workers are noticed in seconds; artifacts in
    this test's directory (whichever the backend)."""
    artifacts = str(tmp_path / "artifacts")
    return bb.Settings(database_url=db_url, lease_s=2.0, grace_s=5.0, artifacts_dir=artifacts)


@pytest.fixture
async def app(settings: bb.Settings) -> AsyncIterator[bb.Backburner]:
    """An app on this test's database, closed afterwards."""
    application = bb.Backburner(settings=settings)
    yield application
    await application.close()


@pytest.fixture
def workers(tmp_path: Path, db_url: str) -> Iterator[Workers]:
    """Real ``backburner worker`` processes on this test's database (`tests.acceptance`),
    all killed when the test ends."""
    from tests.acceptance.conftest import Workers

    started = Workers(tmp_path, db_url)
    try:
        yield started
    finally:
        started.close()


@pytest.fixture
async def bb_app(db_url: str) -> AsyncIterator[bb.Backburner]:
    """The acceptance app (`tests.apps.acceptance_app`) in the test's own process: submits
    and reads, runs nothing."""
    from tests.apps.acceptance_app import build_app

    application = build_app(bb.Settings(database_url=db_url))
    await application.open()
    yield application
    await application.close()


async def eventually(
    check: Callable[[], Awaitable[bool]], timeout: float = 10.0, interval: float = 0.02
) -> None:
    """Wait until ``check()`` is true (polling state, not sleeping a guessed time)."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


async def wait_status(
    app: bb.Backburner, job_id: str, status: bb.JobStatus | str, timeout: float = 10.0
) -> bb.Job:
    """Wait until the job has ``status``; return it."""

    async def check() -> bool:
        return (await app.get(job_id)).status == status

    await eventually(check, timeout)
    return await app.get(job_id)
