"""Internal: the periodic duties every worker shares — reclaim, expire, prune."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ..artifacts import Artifacts
from ..config import Settings
from ..errors import StorageError
from ..storage import MaintenanceReport, Storage

__all__ = ["maintenance_loop", "run_maintenance", "sweep_artifacts"]

log = logging.getLogger(__name__)

_BATCH = 500


async def run_maintenance(
    storage: Storage, settings: Settings, artifacts: Artifacts | None = None
) -> MaintenanceReport:
    """One pass: reclaim expired leases, fail expired queued jobs, prune old finished jobs
    (and, when some were pruned, the artifacts they leave behind)."""
    report = await storage.run_maintenance(retention_s=settings.retention_s, limit=_BATCH)
    if report.pruned and artifacts is not None:
        await sweep_artifacts(storage, artifacts)
    if report.reclaimed or report.expired or report.pruned:
        log.info(
            "maintenance: %d reclaimed, %d expired, %d pruned",
            report.reclaimed,
            report.expired,
            report.pruned,
            extra={
                "action": "maintenance",
                "reclaimed": report.reclaimed,
                "expired": report.expired,
                "pruned": report.pruned,
            },
        )
    return report


async def sweep_artifacts(storage: Storage, artifacts: Artifacts) -> int:
    """Delete the artifacts of jobs that are gone; how many jobs' artifacts were deleted."""

    async def existing(job_ids: list[str]) -> set[str]:
        return {job.id for job in await storage.get_jobs(job_ids)}

    try:
        swept = await artifacts.sweep(existing)
    except OSError as exc:  # the store is unreachable: the next pruning pass tries again
        log.warning("artifact sweep failed: %s", exc, extra={"action": "artifact_sweep_failed"})
        return 0
    if swept:
        log.info("maintenance: artifacts of %d pruned jobs deleted", swept)
    return swept


async def maintenance_loop(
    storage: Storage, settings: Settings, stop: asyncio.Event, artifacts: Artifacts | None = None
) -> None:
    """Run `run_maintenance` every ``settings.maintenance_interval_s`` until ``stop``."""
    while not stop.is_set():
        try:
            await run_maintenance(storage, settings, artifacts)
        except StorageError as exc:
            log.warning("maintenance failed: %s", exc, extra={"action": "maintenance_failed"})
        with contextlib.suppress(TimeoutError):  # not wait_for: 3.11's can swallow a cancel
            async with asyncio.timeout(settings.maintenance_interval_s):
                await stop.wait()
