"""The README's 30-second example, exactly as printed: the script runs, and the shell
commands beside it submit, wait and work on the same file."""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.api.test_real_server import BIN, ROOT

pytestmark = pytest.mark.slow  # processes

README = (ROOT / "README.md").read_text()


def readme_script() -> str:
    """The README's first Python block."""
    match = re.search(r"```python\n(.*?)```", README, re.S)
    assert match, "the README has no Python example"
    return match.group(1)


def readme_command(start: str) -> list[str]:
    """The README's inline ``backburner …`` command that begins with ``start``, as argv."""
    match = re.search(rf"`({re.escape(start)}[^`]*)`", README)
    assert match, f"the README has no `{start}…` command"
    words = re.findall(r"'[^']*'|\S+", match.group(1))
    return [word.strip("'") for word in words]


#: The environment without ``BACKBURNER_*`` settings: the defaults the README means.
ENV = {k: v for k, v in os.environ.items() if not k.startswith("BACKBURNER_")}


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``args`` run in ``cwd`` to the end (at most a minute)."""
    return subprocess.run(args, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=60)


@pytest.fixture
def chapters(tmp_path: Path) -> Path:
    """A directory holding the README's ``chapters.py``."""
    (tmp_path / "chapters.py").write_text(readme_script())
    return tmp_path


def test_the_30_second_script_prints_queued_then_the_output(chapters: Path) -> None:
    result = run([sys.executable, "chapters.py"], chapters)

    assert result.returncode == 0, result.stderr
    queued, done = result.stdout.splitlines()
    assert re.fullmatch(r"[0-9a-f-]{36} queued", queued)
    assert done == "succeeded {'title': 'The Sea', 'content': 'TODAY I WALKED ALONG THE SEA.'}"
    assert (chapters / "backburner.db").exists()  # the default: a SQLite file, here


def test_the_shell_commands_submit_wait_and_work_on_the_same_file(chapters: Path) -> None:
    submit = readme_command("backburner submit chapter")
    worker = readme_command("backburner worker chapters:app")
    text = "A long walk along the grey sea."
    entry = json.dumps({"journal_entry": text})
    submit = [entry if word.startswith("{") else word for word in submit]  # the README's "…"
    waiting = subprocess.Popen(
        [str(BIN), *submit[1:]], cwd=chapters, env=ENV, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_for_a_job(chapters / "backburner.db", waiting)  # else the burst finds nothing
        worked = run([str(BIN), *worker[1:], "--burst"], chapters)
        out, err = waiting.communicate(timeout=60)
    finally:
        waiting.kill()
    assert worked.returncode == 0, worked.stderr
    assert waiting.returncode == 0, err
    assert json.loads(out) == {"title": "The Sea", "content": text.upper()}


def wait_for_a_job(database: Path, submitting: subprocess.Popen[str]) -> None:
    """Return once the file holds a job (the submit has committed it)."""
    deadline = time.monotonic() + 30
    while True:
        reader = f"file:{database}?mode=ro"  # never creates the file
        with (
            contextlib.suppress(sqlite3.Error),
            contextlib.closing(sqlite3.connect(reader, uri=True)) as db,
        ):
            if db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]:
                return
        assert submitting.poll() is None, submitting.communicate()
        assert time.monotonic() < deadline, "the submit stored no job"
        time.sleep(0.05)
