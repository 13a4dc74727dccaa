"""``POST /v1/tokens``: an API key mints a short-lived browser token for one owner (and
optionally one scope), so a web page can watch and act on those jobs without a secret key."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from ..app import Backburner
from ..tokens import MAX_TTL_S, BrowserToken
from .auth import Caller, CallerDep
from .bodies import StrictJsonRoute
from .errors import ApiError

__all__ = ["TokenCreate", "TokenPublic", "router"]

router = APIRouter(prefix="/v1/tokens", tags=["tokens"], route_class=StrictJsonRoute)


class TokenCreate(BaseModel):
    """``POST /v1/tokens``: whose jobs (admin keys name any owner), which scope, how long."""

    model_config = ConfigDict(extra="forbid")

    owner: str | None = Field(default=None, min_length=1, max_length=200)
    scope: str | None = Field(default=None, min_length=1, max_length=200)
    #: Seconds until the token expires: 15 minutes unless asked, at most a day.
    ttl_s: Annotated[int, Field(ge=1, le=MAX_TTL_S)] = 900


class TokenPublic(BaseModel):
    """A minted token: hand ``token`` to the page; it acts as ``owner`` until ``expires_at``."""

    token: str
    owner: str
    scope: str | None
    expires_at: datetime


def _owner_for(caller: Caller, owner: str | None) -> str:
    """Whose token this is: an admin key names any owner, any other key only its own."""
    if caller.token:
        raise ApiError(403, "forbidden", "Forbidden", "a browser token cannot mint tokens")
    if caller.admin:
        if owner is None:
            raise ApiError(422, "invalid-request", "Invalid request", "owner: admin keys name one")
        return owner
    if owner not in (None, caller.owner):
        raise ApiError(403, "forbidden", "Forbidden", "owner: this key mints only for its owner")
    return caller.owner


@router.post("", response_model=TokenPublic, status_code=201)
async def create_token(body: TokenCreate, request: Request, caller: CallerDep) -> TokenPublic:
    """Mint a browser token (201); tokens themselves cannot mint (403)."""
    app: Backburner = request.app.state.backburner
    minted: BrowserToken = await app.create_browser_token(
        _owner_for(caller, body.owner), body.scope, body.ttl_s
    )
    return TokenPublic(
        token=minted.token, owner=minted.owner, scope=minted.scope, expires_at=minted.expires_at
    )
