"""``make demo``: examples/demo.py runs to the end, offline, and prints its summary."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from .conftest import ROOT, Cli


async def test_the_demo_runs_and_prints_the_summary(cli: Cli, tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "examples" / "demo.py"),
        cwd=tmp_path,  # its demo.db goes here, not into the checkout
        env=cli.env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    text = out.decode()

    assert process.returncode == 0, err.decode()
    assert "Summary" in text
    for line in ("script_video", "chapter", "portrait"):
        assert line in text
    assert "5 of 6 jobs succeeded" in text
    assert "script_video recovered on attempt 2" in text
    assert (tmp_path / "demo.db").exists()
