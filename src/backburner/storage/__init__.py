"""Storage backends behind one seam, `Storage`; `create_storage` picks one from the URL."""

from __future__ import annotations

from ..config import POSTGRES_SCHEMES, SQLITE_SCHEMES, Settings
from ..errors import UnsupportedDatabase
from .base import Storage
from .fair_share import NO_LIMITS, ClaimLimits
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
    "NO_LIMITS",
    "ApiKey",
    "Claim",
    "ClaimLimits",
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
    if scheme in SQLITE_SCHEMES:
        from .sqlite import SqliteStorage

        return SqliteStorage(settings)
    if scheme in POSTGRES_SCHEMES:
        from .postgres import PostgresStorage  # psycopg is imported only when it is used

        return PostgresStorage(settings)
    raise UnsupportedDatabase(f"BACKBURNER_DATABASE_URL: unsupported scheme {scheme!r}")
