"""``GET /v1/credits`` (an owner's balance and recent entries) and ``POST /v1/admin/credits``
(an admin grants or adjusts): thin over ``app.credits``."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from ..app import Backburner
from ..ledger import CreditBalance, CreditEntry
from .auth import Caller, CallerDep
from .bodies import StrictJsonRoute
from .errors import ApiError

__all__ = ["CreditGrant", "CreditsPublic", "GrantPublic", "router"]

router = APIRouter(tags=["credits"], route_class=StrictJsonRoute)


class CreditsPublic(BaseModel):
    """An owner's credits: ``available`` is what a new submit may spend (``balance`` less
    what queued jobs have ``reserved``); ``entries`` are the newest first."""

    owner: str
    balance: float
    reserved: float
    available: float
    entries: list[CreditEntry]
    #: Pass as ``?before=`` for older entries; ``null`` on the last page.
    next_before: int | None


class CreditGrant(BaseModel):
    """``POST /v1/admin/credits``: a ``grant`` (amount > 0) or an ``adjustment`` (either sign)."""

    model_config = ConfigDict(extra="forbid")

    owner: str = Field(min_length=1, max_length=200)
    amount: float
    type: Literal["grant", "adjustment"] = "grant"
    note: str | None = Field(default=None, max_length=1000)


class GrantPublic(BaseModel):
    """The entry made, and the owner's credits after it."""

    entry: CreditEntry
    owner: str
    balance: float
    reserved: float
    available: float


def _app(request: Request) -> Backburner:
    return request.app.state.backburner  # type: ignore[no-any-return]


def _totals(balance: CreditBalance) -> dict[str, float]:
    return {
        "balance": balance.balance,
        "reserved": balance.reserved,
        "available": balance.available,
    }


def _whose(caller: Caller, owner: str | None) -> str:
    """An admin names any owner (its own by default); anyone else sees only their own."""
    if owner is None or owner == caller.owner:
        return caller.owner
    if not caller.admin:
        raise ApiError(403, "forbidden", "Forbidden", "owner: only admin keys name another owner")
    return owner


@router.get("/v1/credits", response_model=CreditsPublic)
async def get_credits(
    request: Request,
    caller: CallerDep,
    owner: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
    before: Annotated[int | None, Query(ge=1)] = None,
) -> CreditsPublic:
    """The caller's balance, reservations and newest ledger entries (admins: ``?owner=``)."""
    app, whose = _app(request), _whose(caller, owner)
    balance = await app.credits.balance(whose)
    entries = await app.credits.entries(whose, limit=limit + 1, before=before)
    page = entries[:limit]
    more = len(entries) > limit
    return CreditsPublic(
        owner=whose,
        **_totals(balance),
        entries=page,
        next_before=page[-1].id if more else None,
    )


@router.post("/v1/admin/credits", response_model=GrantPublic, status_code=201)
async def grant_credits(body: CreditGrant, request: Request, caller: CallerDep) -> GrantPublic:
    """Grant or adjust an owner's credits (admin keys only)."""
    if not caller.admin:
        raise ApiError(403, "forbidden", "Forbidden", "only admin keys grant credits")
    app = _app(request)
    if body.type == "grant":
        entry = await app.credits.grant(body.owner, body.amount, note=body.note)
    else:
        entry = await app.credits.adjust(body.owner, body.amount, note=body.note)
    balance = await app.credits.balance(body.owner)
    return GrantPublic(entry=entry, owner=body.owner, **_totals(balance))
