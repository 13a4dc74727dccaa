"""`SyncBackburner`: the Python API for scripts and sync code, blocking.

```python
jobs = bb.SyncBackburner(app)
job = jobs.submit("chapter", {"journal_entry": "…"}, owner="alice")
print(jobs.wait(job.id, timeout=60).output)
```

It runs the app's async calls on one private event loop in a background thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from .app import Backburner
from .jobs import Job
from .storage import JobPage

__all__ = ["SyncBackburner"]

T = TypeVar("T")


class SyncBackburner:
    """Blocking twins of `Backburner`'s job calls, over the same app."""

    def __init__(self, app: Backburner) -> None:
        self.app = app
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="bb-sync", daemon=True)
        self._thread.start()

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def submit(self, kind: str, input: Any, **options: Any) -> Job:
        """See `Backburner.submit`."""
        return self._call(self.app.submit(kind, input, **options))

    def get(self, job_id: str) -> Job:
        """See `Backburner.get`."""
        return self._call(self.app.get(job_id))

    def list(self, **filters: Any) -> JobPage:
        """See `Backburner.list`."""
        return self._call(self.app.list(**filters))

    def cancel(self, job_id: str) -> Job:
        """See `Backburner.cancel`."""
        return self._call(self.app.cancel(job_id))

    def retry(self, job_id: str) -> Job:
        """See `Backburner.retry`."""
        return self._call(self.app.retry(job_id))

    def delete(self, job_id: str) -> None:
        """See `Backburner.delete`."""
        self._call(self.app.delete(job_id))

    def wait(self, job_id: str, timeout: float | None = None) -> Job:
        """See `Backburner.wait`."""
        return self._call(self.app.wait(job_id, timeout))

    def close(self) -> None:
        """Close the app's connections and stop the private loop."""
        self._call(self.app.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def __enter__(self) -> SyncBackburner:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
