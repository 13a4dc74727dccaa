"""Helpers for testing an app built on backburner.

```python
from backburner.testing import run_until_idle, test_settings

async def test_chapter(tmp_path):
    app.settings = test_settings(tmp_path)
    job = await app.submit("chapter", {"journal_entry": "…"})
    await run_until_idle(app)
    assert (await app.get(job.id)).status == "succeeded"
```
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from .app import Backburner
from .config import Settings

__all__ = ["run_until_idle", "test_settings"]


def test_settings(directory: Path, **overrides: object) -> Settings:
    """Settings on a fresh SQLite file in ``directory``, with a short lease and grace period."""
    values: dict[str, object] = {
        "database_url": f"sqlite:///{directory / 'backburner-test.db'}",
        "lease_s": 2.0,
        "grace_s": 2.0,
    }
    values.update(overrides)
    return Settings.build(**values)


test_settings.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


async def run_until_idle(
    app: Backburner, *, concurrency: int | None = None, timeout_s: float = 60.0
) -> None:
    """Run a worker until no job is runnable and none runs (jobs backing off are left)."""
    await asyncio.wait_for(app.worker(concurrency=concurrency, burst=True).run(), timeout_s)
