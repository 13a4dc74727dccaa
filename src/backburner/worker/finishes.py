"""Internal: group commit of job outcomes — many finished jobs, one transaction."""

from __future__ import annotations

import asyncio
import logging

from ..errors import StorageError
from ..storage import Outcome, Storage

__all__ = ["Finisher"]

log = logging.getLogger(__name__)

_MAX_BATCH = 500


class Finisher:
    """Collects outcomes while the previous batch is being written, then writes them together.

    No timer: an outcome arriving at an idle finisher is written at once; under load the
    batch is whatever arrived during the last write. A write that fails is retried (the
    outcome is not lost); once the worker stops, an unwritten outcome's lease simply expires
    and the job is reclaimed.
    """

    def __init__(self, storage: Storage) -> None:
        self._storage = storage
        self._pending: list[tuple[Outcome, asyncio.Future[bool]]] = []
        self._ready = asyncio.Event()
        self._closed = False

    async def finish(self, outcome: Outcome) -> bool:
        """Write ``outcome``; ``False`` when the job was no longer ours."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append((outcome, future))
        self._ready.set()
        return await future

    async def run(self) -> None:
        """Write batches until `close` and the queue is empty."""
        while not (self._closed and not self._pending):
            await self._ready.wait()
            self._ready.clear()
            while self._pending:
                batch, self._pending = self._pending[:_MAX_BATCH], self._pending[_MAX_BATCH:]
                await self._write(batch)

    def close(self) -> None:
        self._closed = True
        self._ready.set()

    async def _write(self, batch: list[tuple[Outcome, asyncio.Future[bool]]]) -> None:
        pause = 0.1
        while True:
            try:
                results = await self._storage.finish_jobs([o for o, _ in batch])
                break
            except StorageError as exc:
                log.warning(
                    "could not record %d outcomes, retrying in %.1fs: %s",
                    len(batch),
                    pause,
                    exc,
                    extra={"action": "finish_retry"},
                )
                await asyncio.sleep(pause)
                pause = min(pause * 2, 5.0)
        for (_, future), ok in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(ok)
