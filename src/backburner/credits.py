"""``app.credits``: grant, adjust and read owners' credits (the records are in `ledger`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import InvalidInput
from .ledger import CreditBalance, CreditEntry, EntryType, checked_amount
from .storage.credits_sql import CreditTotals
from .submissions import check_text

if TYPE_CHECKING:
    from .app import Backburner

__all__ = ["Credits"]


class Credits:
    """``app.credits``: grant, adjust and read owners' credits."""

    def __init__(self, app: Backburner) -> None:
        self._app = app

    async def grant(self, owner: str, amount: float, *, note: str | None = None) -> CreditEntry:
        """Add ``amount`` (> 0) credits to ``owner``'s balance."""
        return await self._add(owner, "grant", checked_amount(amount, signed=False), note)

    async def adjust(self, owner: str, amount: float, *, note: str | None = None) -> CreditEntry:
        """Correct ``owner``'s balance by ``amount`` (either sign). `InvalidInput` when it would
        leave less than queued jobs have reserved (the balance never goes below zero)."""
        return await self._add(owner, "adjustment", checked_amount(amount, signed=True), note)

    async def balance(self, owner: str) -> CreditBalance:
        """``owner``'s balance (zero for an owner never granted any)."""
        check_text("owner", owner, required=True)
        return await (await self._app.open()).credit_balance(owner)

    async def entries(
        self, owner: str, *, limit: int = 50, before: int | None = None
    ) -> list[CreditEntry]:
        """``owner``'s ledger entries, newest first: at most ``limit``, with ids below
        ``before`` (the last id of the previous page)."""
        check_text("owner", owner, required=True)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise InvalidInput(f"limit: must be a whole number from 1 to 1000, got {limit!r}")
        return await (await self._app.open()).credit_entries(owner, limit, before)

    async def totals(self) -> CreditTotals:
        """The ledger summed by type and kind, and all balances (what ``/metrics`` shows)."""
        return await (await self._app.open()).credit_totals()

    async def _add(
        self, owner: str, type_: EntryType, micros: int, note: str | None
    ) -> CreditEntry:
        check_text("owner", owner, required=True)
        if note is not None and (not isinstance(note, str) or len(note) > 1000):
            raise InvalidInput("note: must be text of at most 1,000 characters")
        return await (await self._app.open()).add_credit_entry(owner, type_, micros, note)
