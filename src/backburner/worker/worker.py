"""The worker: claims jobs in batches and runs their handlers, many at once.

```python
async with app.worker(concurrency=20):   # runs in the background of this block
    job = await app.submit("chapter", {...})
    await app.wait(job.id)
```

or ``backburner worker APP`` for a process of its own (SIGTERM/SIGINT stop it gracefully).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import TYPE_CHECKING

from ..context import Context
from ..errors import StorageError
from ..ids import new_token
from ..jobs import JobStatus
from ..storage import (
    Claim,
    ClaimLimits,
    ClaimRequest,
    Lease,
    LeaseReport,
    Outcome,
    Storage,
    create_storage,
)
from ..storage.workers_sql import WorkerInfo
from .executor import Running, StopReason, execute
from .finishes import Finisher
from .heartbeat import Heartbeat
from .maintenance import maintenance_loop
from .watchdog import LoopWatch
from .webhook_sender import WebhookSender

if TYPE_CHECKING:
    from ..app import Backburner

__all__ = ["Worker"]

log = logging.getLogger(__name__)

#: Most jobs claimed in one transaction.
_BATCH = 100
#: Longest an idle worker waits before looking again (retries whose backoff has passed).
_IDLE_RECHECK_S = 1.0


class Worker:
    """Runs an app's handlers: claim, execute, heartbeat, finish, stop gracefully."""

    def __init__(
        self,
        app: Backburner,
        *,
        concurrency: int | None = None,
        burst: bool = False,
        use_signals: bool = False,
    ) -> None:
        self.app = app
        self.settings = app.settings
        #: Most jobs running at once in this worker.
        self.concurrency = concurrency or app.settings.concurrency
        #: Stop once nothing is runnable and nothing runs (for tests, cron ticks, scripts).
        self.burst = burst
        self._host = socket.gethostname()
        self.id = f"{self._host}:{os.getpid()}:{new_token()[:6]}"
        self._use_signals = use_signals
        self._running: dict[str, Running] = {}
        self._watch = LoopWatch()
        self._threads = ThreadPoolExecutor(self.concurrency, thread_name_prefix="bb-handler")
        self._stop: asyncio.Event | None = None
        self._wake: asyncio.Event | None = None
        self._grace_s = self.settings.grace_s
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._immediate = False
        #: Outcomes recorded by this worker, by status (``released`` for jobs put back).
        self.stats: Counter[str] = Counter()

    # ── lifecycle ─────────────────────────────────────────────────────────
    def stop(self, *, immediate: bool = False) -> None:
        """Stop claiming; in-flight jobs get the grace period (none if ``immediate``)."""
        self._stopping = True
        if immediate:
            self._grace_s = 0.0
            self._immediate = True
        if self._stop is not None:
            self._stop.set()
        if self._wake is not None:
            self._wake.set()

    async def __aenter__(self) -> Worker:
        self._task = asyncio.create_task(self.run(), name=f"backburner worker {self.id}")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        if self._task is not None:
            await self._task

    async def run(self) -> None:
        """Run until `stop` (or, in burst mode, until idle)."""
        self._stop, self._wake = asyncio.Event(), asyncio.Event()
        if self._stopping:  # stop() came before run() got going
            self._stop.set()
        self._watch.bind(use_signal=self._use_signals)
        storage = await self._connect()
        if storage is None:
            return
        await self._register(storage)
        loop = asyncio.get_running_loop()
        finisher = Finisher(storage)
        heartbeat = Heartbeat(
            lambda: create_storage(self.settings),
            self._info(),
            self._leases,
            lambda report: _call_soon(loop, self._apply_report, report),
            self._watch,
        )
        heartbeat.start()
        sender = WebhookSender(self.app, storage)
        helpers = [
            asyncio.create_task(finisher.run()),
            asyncio.create_task(
                maintenance_loop(storage, self.settings, self._stop, self.app.artifacts)
            ),
            asyncio.create_task(sender.run(self._stop)),
        ]
        log.info("worker started", extra={"action": "worker_started", "worker": self.id})
        try:
            await self._claim_loop(storage, finisher)
        finally:
            await self._shutdown(storage, finisher, heartbeat, helpers, sender)

    async def _connect(self) -> Storage | None:
        """The app's storage, retrying (and saying so) while the database is unreachable."""
        assert self._stop is not None
        pause = 0.5
        while not self._stop.is_set():
            try:
                return await self.app.open()
            except StorageError as exc:
                log.warning(
                    "database unreachable, retrying in %.1fs: %s", pause, exc,
                    extra={"action": "database_unreachable"},
                )  # fmt: skip
                await self._sleep(pause)
                pause = min(pause * 2, 10.0)
        return None

    def _info(self) -> WorkerInfo:
        """What the worker registry shows of this worker."""
        kinds = tuple(kind.name for kind in self.app.kinds)
        lease_s = self.settings.lease_s
        return WorkerInfo(self.id, self._host, os.getpid(), kinds, self.concurrency, lease_s)

    async def _register(self, storage: Storage) -> None:
        """Put this worker in the registry; a failure only delays that to the heartbeat."""
        try:
            await storage.upsert_worker(self._info(), 0)
        except StorageError as exc:
            log.warning("registering failed: %s", exc, extra={"action": "register_failed"})

    # ── claiming ──────────────────────────────────────────────────────────
    async def _claim_loop(self, storage: Storage, finisher: Finisher) -> None:
        assert self._stop is not None and self._wake is not None
        limits = self._limits()  # the kinds are registered by now: built once, not per claim
        pause = 0.1
        while not self._stop.is_set():
            self._wake.clear()
            requests, limit = self._claim_requests()
            claims: list[Claim] = []
            if limit:
                try:
                    claims = await storage.claim_jobs(
                        self.id, requests, self.settings.lease_s, limit, limits
                    )
                    pause = 0.1
                except StorageError as exc:
                    log.warning(
                        "claim failed, retrying in %.1fs: %s",
                        pause,
                        exc,
                        extra={"action": "claim_failed"},
                    )
                    await self._sleep(pause)
                    pause = min(pause * 2, 10.0)
                    continue
                for claim in claims:
                    self._start(claim, storage, finisher)
            # A job that finished during the claim set `_wake`: its retry may be runnable now.
            if self.burst and not claims and not self._running and not self._wake.is_set():
                return
            if not limit:
                await self._sleep(_IDLE_RECHECK_S, wake=True)  # full: wait for a free slot
            elif len(claims) < limit:
                await self._idle(storage)

    def _limits(self) -> ClaimLimits:
        """The limits every worker's claims keep together: each kind's and each owner's."""
        kinds = list(self.app.kinds)
        return ClaimLimits(
            kind_running={k.name: k.policy.concurrency for k in kinds if k.policy.concurrency},
            owner_running=self.settings.owner_max_running,
            owner_kind_running={
                k.name: k.policy.owner_concurrency for k in kinds if k.policy.owner_concurrency
            },
        )

    def _claim_requests(self) -> tuple[list[ClaimRequest], int]:
        """What to ask for: per-kind limits first, then every unconstrained kind.

        A job whose handler has returned holds no slot while its outcome is written: the
        next claim overlaps that write. Outcomes waiting beyond ``concurrency`` (a slow
        database) do take slots, so they cannot pile up without bound.
        """
        handling = [run for run in self._running.values() if not run.finishing]
        writing = len(self._running) - len(handling)
        limit = min(self.concurrency - len(handling) - max(writing - self.concurrency, 0), _BATCH)
        if limit <= 0:
            return [], 0
        counts = Counter(run.kind.name for run in handling)
        requests, free_kinds = [], []
        for kind in self.app.kinds:
            if kind.policy.concurrency is None:
                free_kinds.append(kind.name)
            elif (room := kind.policy.concurrency - counts[kind.name]) > 0:
                requests.append(ClaimRequest((kind.name,), room))
        if free_kinds:
            requests.append(ClaimRequest(tuple(free_kinds), limit))
        return requests, limit if requests else 0

    def _start(self, claim: Claim, storage: Storage, finisher: Finisher) -> None:
        kind = self.app.kinds.get(claim.job.kind)
        loop_now, wall_now = asyncio.get_running_loop().time(), time.time()
        until_expiry = claim.job.expire_at.timestamp() - wall_now
        timeout_s = kind.policy.timeout_s
        by_expiry = timeout_s is None or until_expiry <= timeout_s
        run = Running(
            claim=claim,
            kind=kind,
            context=Context(claim.job, claim.lease, storage, self.app.artifacts),
            deadline=loop_now + (until_expiry if by_expiry or timeout_s is None else timeout_s),
            deadline_is_expiry=by_expiry,
            wait_s=wall_now - claim.job.run_at.timestamp(),
        )
        self._running[claim.job.id] = run
        run.task = asyncio.create_task(self._run_one(run, finisher), name=f"job {claim.job.id}")

    async def _run_one(self, run: Running, finisher: Finisher) -> None:
        job = run.claim.job
        try:
            outcome = await execute(run, threads=self._threads, watch=self._watch)
            run.finishing = True
            if self._wake is not None:
                self._wake.set()  # its slot is free (see `_claim_requests`)
            recorded = outcome is not None and await finisher.finish(outcome)
            if not recorded:
                log.info(
                    "job %s dropped: its lease was taken over",
                    job.id,
                    extra={"action": "lease_lost", "job_id": job.id, "kind": job.kind},
                )
            elif outcome is not None:
                self.stats["released" if outcome.release else outcome.status.value] += 1
                _observe(self.app, run, outcome)
                if outcome.status is JobStatus.QUEUED and outcome.delay_s and self._wake:
                    # look again when its backoff is over, not at the next idle recheck
                    asyncio.get_running_loop().call_later(outcome.delay_s, self._wake.set)
                status = outcome.status.value
                log.debug(
                    "job %s %s", job.id, status,
                    extra={"action": "job_" + status, "job_id": job.id, "kind": job.kind},
                )  # fmt: skip
        except Exception:
            log.exception(
                "job %s: internal error", job.id, extra={"action": "worker_error", "job_id": job.id}
            )
        finally:
            self._running.pop(job.id, None)
            if self._wake is not None:
                self._wake.set()

    # ── heartbeats ────────────────────────────────────────────────────────
    def _leases(self) -> list[Lease]:
        """Called from the heartbeat thread: ``list(dict.values())`` is one step under the GIL."""
        return [run.claim.lease for run in list(self._running.values())]

    def _apply_report(self, report: LeaseReport) -> None:
        for job_id in report.lost:
            self._interrupt(job_id, StopReason.LEASE_LOST)
        for job_id in report.cancel_requested:
            self._interrupt(job_id, StopReason.CANCELED)

    def _interrupt(self, job_id: str, reason: str) -> None:
        run = self._running.get(job_id)
        if run is None or run.finishing or run.stop_reason is not None or run.task is None:
            return
        run.stop_reason = reason
        run.task.cancel()

    # ── waiting and stopping ──────────────────────────────────────────────
    async def _idle(self, storage: Storage) -> None:
        """Nothing more to claim: wait for a database change, a free slot, or `stop`.

        Only an idle worker watches the database; a busy one claims as slots free up.
        """
        assert self._wake is not None
        change = asyncio.ensure_future(storage.wait_for_change(_IDLE_RECHECK_S))
        wake = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait([change, wake], return_when=asyncio.FIRST_COMPLETED)
        finally:
            change.cancel()
            wake.cancel()

    async def _sleep(self, seconds: float, *, wake: bool = False) -> None:
        assert self._stop is not None and self._wake is not None
        event = self._wake if wake else self._stop
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):  # not wait_for: 3.11's can swallow a cancel
                await event.wait()

    async def _shutdown(
        self,
        storage: Storage,
        finisher: Finisher,
        heartbeat: Heartbeat,
        helpers: list[asyncio.Task[None]],
        sender: WebhookSender,
    ) -> None:
        assert self._stop is not None
        self._stop.set()
        tasks = [run.task for run in self._running.values() if run.task is not None]
        if tasks:
            log.info(
                "stopping: waiting up to %.0fs for %d jobs",
                self._grace_s,
                len(tasks),
                extra={"action": "worker_stopping", "worker": self.id},
            )
            await asyncio.wait(tasks, timeout=self._grace_s)
        for job_id in list(self._running):
            self._interrupt(job_id, StopReason.SHUTDOWN)
        leftover = [run.task for run in self._running.values() if run.task is not None]
        if leftover:
            await asyncio.wait(leftover, timeout=10)
        finisher.close()
        await asyncio.wait([helpers[0]], timeout=10)  # flush outcomes while the db answers
        if self.burst and not self._immediate:  # a tick: send what its jobs' endings made
            # The sender ends its round in flight first (stop is set): a delivery it has
            # claimed would otherwise wait out its lease.
            await asyncio.wait([helpers[2]], timeout=self.settings.webhook_timeout_s + 1)
            with contextlib.suppress(StorageError):
                await sender.drain()
        for task in helpers:
            task.cancel()
        await asyncio.gather(*helpers, return_exceptions=True)
        await asyncio.to_thread(heartbeat.stop)
        with contextlib.suppress(StorageError):  # else it goes stale, and is pruned in time
            await storage.stop_worker(self.id)
        self._threads.shutdown(wait=False, cancel_futures=True)
        log.info("worker stopped", extra={"action": "worker_stopped", "worker": self.id})


def _observe(app: Backburner, run: Running, outcome: Outcome) -> None:
    """Feed the app's metrics one recorded outcome (in memory: no I/O on this path)."""
    status = "released" if outcome.release else outcome.status.value
    error_type = None if outcome.error is None else outcome.error.type.value
    run_s = time.monotonic() - run.claimed_at
    app.metrics.observe(run.kind.name, run.wait_s, run_s, status, error_type)


def _call_soon(
    loop: asyncio.AbstractEventLoop, fn: Callable[[LeaseReport], None], report: LeaseReport
) -> None:
    """Hand a heartbeat report from the heartbeat thread to the worker's loop."""
    with contextlib.suppress(RuntimeError):  # the loop has closed: nothing left to stop
        loop.call_soon_threadsafe(fn, report)
