"""Credits: an owner's balance and the append-only ledger it is derived from (the records).

A kind with a ``cost`` spends credits. The cost is *reserved* when the job is submitted (so two
tabs cannot both spend the last credit), *charged* once when the job first starts running, and
*refunded* once when it finally fails, expires or is canceled (unless the kind says
``refund=False``). A manual retry reserves again and is charged again when it starts. Every
change is written in the same transaction as the job's own change, and the database's
constraints refuse a second charge or refund for the same charge.

```python
await app.credits.grant("alice", 10, note="welcome")
balance = await app.credits.balance("alice")     # balance.available: what a submit may spend
```

Amounts are stored as whole millionths of a credit, so sums are exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from .errors import InvalidInput

__all__ = [
    "CreditBalance",
    "CreditEntry",
    "EntryType",
    "checked_amount",
    "from_micros",
    "to_micros",
]

#: ``grant`` and ``adjustment`` are made by an admin; ``charge`` and ``refund`` by jobs.
EntryType = Literal["grant", "charge", "refund", "adjustment"]

#: Millionths of a credit per credit: the unit amounts are stored in.
MICROS = 1_000_000
#: Largest amount one entry may move (keeps every sum far inside a 64-bit integer).
MAX_AMOUNT = 1_000_000_000_000


def to_micros(amount: float) -> int:
    """``amount`` credits as whole millionths (rounded to the nearest)."""
    return round(amount * MICROS)


def from_micros(micros: int) -> float:
    """Millionths of a credit as credits."""
    return micros / MICROS


@dataclass(frozen=True)
class CreditBalance:
    """An owner's credits now: ``balance`` (grants − charges + refunds ± adjustments) and the
    part of it ``reserved`` by queued jobs that have not started yet."""

    owner: str
    balance: float
    reserved: float

    @property
    def available(self) -> float:
        """What a new submit may spend: the balance less what queued jobs reserved."""
        return from_micros(to_micros(self.balance) - to_micros(self.reserved))


@dataclass(frozen=True)
class CreditEntry:
    """One ledger entry. ``amount`` is what it added to the balance (a charge is negative)."""

    id: int
    owner: str
    type: EntryType
    amount: float
    #: The job a charge or refund is for (kept after the job is deleted).
    job_id: str | None
    kind: str | None
    #: Which of the job's charges (1; 2 after a manual retry that was charged again …).
    charge_seq: int | None
    note: str | None
    created_at: datetime


def checked_amount(amount: object, *, signed: bool) -> int:
    """``amount`` in millionths, or `InvalidInput` naming the field."""
    if isinstance(amount, bool) or not isinstance(amount, int | float) or not math.isfinite(amount):
        raise InvalidInput(f"amount: must be a number, got {amount!r}")
    micros = to_micros(amount)
    if micros == 0 and amount != 0:
        raise InvalidInput(f"amount: at most 6 decimals (millionths of a credit), got {amount!r}")
    if micros == 0 or (micros < 0 and not signed):
        need = "non-zero" if signed else "greater than 0"
        raise InvalidInput(f"amount: must be {need}, got {amount!r}")
    if abs(amount) > MAX_AMOUNT:
        raise InvalidInput(f"amount: must be at most {MAX_AMOUNT:,} in size, got {amount!r}")
    return micros
