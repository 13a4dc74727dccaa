"""Webhooks over HTTP: the caller's signing secret, and a job's deliveries.

``GET /v1/webhooks/secret`` gives an API key (never a browser token) the ``whsec_…`` secret its
owner's deliveries are signed with; ``GET /v1/jobs/{id}/webhooks`` shows how each went.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from ..app import Backburner
from ..storage import WebhookDelivery
from .auth import CallerDep, owned_job
from .errors import ApiError

__all__ = ["DeliveryPublic", "WebhookSecret", "router"]

router = APIRouter(tags=["webhooks"])


class WebhookSecret(BaseModel):
    """The secret to verify an owner's deliveries with (`backburner.webhooks.verify`)."""

    owner: str
    secret: str


class DeliveryPublic(BaseModel):
    """One webhook delivery: what was sent where, and how its attempts went."""

    id: str
    type: str
    url: str
    #: ``pending``, ``delivered`` or ``failed``.
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, delivery: WebhookDelivery) -> DeliveryPublic:
        """The public view of a stored delivery."""
        pending = delivery.status == "pending"
        return cls(
            id=delivery.id,
            type=delivery.type,
            url=delivery.url,
            status=delivery.status,
            attempts=delivery.attempts,
            next_attempt_at=delivery.next_attempt_at if pending else None,
            last_status_code=delivery.last_status_code,
            last_error=delivery.last_error,
            created_at=delivery.created_at,
            finished_at=delivery.finished_at,
        )


def _app(request: Request) -> Backburner:
    app: Backburner = request.app.state.backburner
    return app


@router.get("/v1/webhooks/secret", response_model=WebhookSecret)
async def webhook_secret(
    request: Request,
    caller: CallerDep,
    owner: Annotated[str | None, Query(description="admin keys only")] = None,
) -> WebhookSecret:
    """The signing secret of the key's owner (an admin key names any ``owner``)."""
    if caller.token:
        raise ApiError(403, "forbidden", "Forbidden", "a browser token cannot read secrets")
    if owner is not None and not caller.admin and owner != caller.owner:
        raise ApiError(403, "forbidden", "Forbidden", "owner: only admin keys name another owner")
    whose = owner or caller.owner
    return WebhookSecret(owner=whose, secret=await _app(request).webhook_secret(whose))


@router.get("/v1/jobs/{job_id}/webhooks", response_model=list[DeliveryPublic])
async def job_webhooks(job_id: str, request: Request, caller: CallerDep) -> list[DeliveryPublic]:
    """The job's webhook deliveries, oldest first."""
    await owned_job(_app(request), caller, job_id)
    return [DeliveryPublic.of(d) for d in await _app(request).webhook_deliveries(job_id)]
