"""CLI fixtures: run the real ``backburner`` command against this test's SQLite file."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import backburner as bb

from .cliapp import create_app

#: The repo root: the CLI puts the working directory on sys.path, so tests.cli.cliapp loads.
ROOT = Path(__file__).resolve().parents[2]
#: The test app, as the CLI names it.
APP = "tests.cli.cliapp:app"
_SCRIPT = shutil.which("backburner", path=str(Path(sys.executable).parent))
COMMAND = [_SCRIPT] if _SCRIPT else [sys.executable, "-m", "backburner.cli"]


@dataclass(frozen=True)
class Result:
    """How a finished ``backburner`` process ended."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        """Stdout parsed as JSON."""
        return json.loads(self.out)


class Cli:
    """Runs ``backburner`` with a clean environment pointing at one database."""

    def __init__(self, db_url: str) -> None:
        self.db_url = db_url
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("BACKBURNER_")}
        self.env["BACKBURNER_DATABASE_URL"] = db_url

    async def start(
        self, *args: str, env: dict[str, str] | None = None
    ) -> asyncio.subprocess.Process:
        """Start ``backburner ARGS`` in the background."""
        return await asyncio.create_subprocess_exec(
            *COMMAND,
            *args,
            cwd=ROOT,
            env={**self.env, **(env or {})},
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )

    async def finish(self, process: asyncio.subprocess.Process, stdin: str | None = None) -> Result:
        """Wait for a started process (30 s at most) and collect what it printed."""
        data = None if stdin is None else stdin.encode()
        out, err = await asyncio.wait_for(process.communicate(data), 30)
        assert process.returncode is not None
        return Result(process.returncode, out.decode(), err.decode())

    async def __call__(
        self, *args: str, env: dict[str, str] | None = None, stdin: str | None = None
    ) -> Result:
        """Run ``backburner ARGS`` to the end."""
        return await self.finish(await self.start(*args, env=env), stdin)


@pytest.fixture
def cli(db_url: str) -> Cli:
    """The ``backburner`` command on this test's database."""
    return Cli(db_url)


@pytest.fixture
async def local_app(db_url: str) -> AsyncIterator[bb.Backburner]:
    """The CLI test app in this process, on the same database (short lease: quick cancels)."""
    application = create_app(db_url, lease_s=1.0)
    yield application
    await application.close()


async def stored_jobs(db_url: str) -> list[bb.Job]:
    """Every job in the database."""
    async with bb.Backburner(db_url) as app:
        return (await app.list(limit=1000)).jobs
