"""Internal: the heartbeat thread — renews leases where a blocking handler cannot starve it.

It runs its own event loop and its own storage connection, so a handler that blocks the
worker's loop neither stops the heartbeats nor loses its lease; the same thread lets the
`LoopWatch` interrupt a handler stuck past its deadline.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable

from ..errors import StorageError
from ..storage import Lease, LeaseReport, Storage
from ..storage.workers_sql import WorkerInfo
from .watchdog import LoopWatch

__all__ = ["Heartbeat"]

log = logging.getLogger(__name__)

_TICK_S = 0.2
#: How often running jobs are checked for a cancel request, between heartbeats: a user who
#: presses Cancel sees the job stop within about this long, whatever the lease.
CANCEL_CHECK_S = 1.0


class Heartbeat:
    """Every ``lease_s / 3``: refresh the worker's row in the registry (busy or idle), extend
    held leases, hand the report back to the worker; every `CANCEL_CHECK_S` in between, look
    for cancel requests (a cheap read)."""

    def __init__(
        self,
        storage_factory: Callable[[], Storage],
        worker: WorkerInfo,
        leases: Callable[[], list[Lease]],
        on_report: Callable[[LeaseReport], None],
        watch: LoopWatch,
    ) -> None:
        self._storage_factory = storage_factory
        self._worker = worker
        self._lease_s = worker.lease_s
        self._leases = leases
        self._on_report = on_report
        self._watch = watch
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bb-heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        storage = self._storage_factory()
        interval = self._lease_s / 3
        next_beat = time.monotonic() + interval
        next_check = time.monotonic() + CANCEL_CHECK_S
        try:
            while not self._stop.is_set():
                self._watch.check()
                now = time.monotonic()
                if now >= next_beat:
                    next_beat, next_check = now + interval, now + CANCEL_CHECK_S
                    await self._beat(storage)
                elif now >= next_check:
                    next_check = now + CANCEL_CHECK_S
                    await self._check_cancels(storage)
                await asyncio.sleep(_TICK_S)
        finally:
            await storage.close()

    async def _check_cancels(self, storage: Storage) -> None:
        job_ids = [lease.job_id for lease in self._leases()]
        try:
            canceled = await storage.find_cancel_requests(job_ids)
        except StorageError:
            return  # the next heartbeat reports it (and says why it failed)
        if canceled:
            self._on_report(LeaseReport(cancel_requested=frozenset(canceled)))

    async def _beat(self, storage: Storage) -> None:
        leases = self._leases()
        try:
            # One small UPDATE a period, idle or not: the operator's page tells a quiet
            # worker from a dead one by it.
            await storage.upsert_worker(self._worker, len(leases))
            if not leases:
                return
            report = await storage.extend_leases(leases, self._lease_s)
        except StorageError as exc:
            log.warning(
                "heartbeat failed: %s",
                exc,
                extra={"action": "heartbeat_failed", "jobs": len(leases)},
            )
            return
        if report.lost or report.cancel_requested:
            self._on_report(report)
