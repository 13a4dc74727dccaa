"""Storage backends behind one seam, `Storage`; `open_storage` picks one from the URL."""

from __future__ import annotations

from ..config import Settings
from ..errors import UnsupportedDatabase
from .base import Storage
from .records import (
    ApiKey,
    Claim,
    ClaimRequest,
    JobPage,
    JobQuery,
    Lease,
    LeaseReport,
    MaintenanceReport,
    NewJob,
    Outcome,
    WebhookDelivery,
)
from .webhooks_sql import DeliveryResult

__all__ = [
    "ApiKey",
    "Claim",
    "ClaimRequest",
    "DeliveryResult",
    "JobPage",
    "JobQuery",
    "Lease",
    "LeaseReport",
    "MaintenanceReport",
    "NewJob",
    "Outcome",
    "Storage",
    "WebhookDelivery",
    "create_storage",
]


def create_storage(settings: Settings) -> Storage:
    """A not-yet-opened backend for ``settings.database_url``."""
    scheme = settings.database_url.split(":", 1)[0].lower()
    if scheme == "sqlite":
        from .sqlite import SqliteStorage

        return SqliteStorage(settings)
    raise UnsupportedDatabase(f"BACKBURNER_DATABASE_URL: unsupported scheme {scheme!r}")
