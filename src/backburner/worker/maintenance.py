"""Internal: the periodic duties every worker shares — reclaim, expire, prune."""

from __future__ import annotations

import asyncio
import logging

from ..config import Settings
from ..errors import StorageError
from ..storage import MaintenanceReport, Storage

__all__ = ["maintenance_loop", "run_maintenance"]

log = logging.getLogger(__name__)

_BATCH = 500


async def run_maintenance(storage: Storage, settings: Settings) -> MaintenanceReport:
    """One pass: reclaim expired leases, fail expired queued jobs, prune old finished jobs."""
    report = await storage.run_maintenance(retention_s=settings.retention_s, limit=_BATCH)
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


async def maintenance_loop(storage: Storage, settings: Settings, stop: asyncio.Event) -> None:
    """Run `run_maintenance` every ``settings.maintenance_interval_s`` until ``stop``."""
    while not stop.is_set():
        try:
            await run_maintenance(storage, settings)
        except StorageError as exc:
            log.warning("maintenance failed: %s", exc, extra={"action": "maintenance_failed"})
        try:
            await asyncio.wait_for(stop.wait(), settings.maintenance_interval_s)
        except TimeoutError:
            pass
