"""Internal: the processes on one SQLite file take turns to write through an OS file lock.

SQLite's own write lock is taken by polling: a writer that finds it held sleeps in SQLite's
busy handler (1 ms, then 2, then 5…) and tries again, so two busy processes on one file —
two API processes, a server and its workers — hand the lock over with gaps of milliseconds
while both have work waiting. Each write transaction of backburner first takes ``flock`` on
``<file>-writer.lock`` instead: a waiting process is woken by the kernel the moment the
holder releases it. SQLite's own lock still guards the file against every other writer.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Windows: SQLite's own lock alone
    fcntl = None  # type: ignore[assignment]

__all__ = ["WriteLock"]


class WriteLock:
    """An exclusive ``flock`` on ``<path>-writer.lock``, held around each write transaction."""

    def __init__(self, path: Path) -> None:
        self._path = path.with_name(path.name + "-writer.lock")
        self._fd: int | None = None
        self._guard = threading.Lock()  # the descriptor is opened once, by the first writer

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Hold the lock for the block (waiting for it without polling)."""
        fd = self._descriptor()
        if fd is None:
            yield
            return
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def close(self) -> None:
        with self._guard:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def _descriptor(self) -> int | None:
        if fcntl is None:
            return None
        with self._guard:
            if self._fd is None:
                try:
                    self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
                except OSError:  # a read-only directory: SQLite's own lock alone
                    return None
            return self._fd
