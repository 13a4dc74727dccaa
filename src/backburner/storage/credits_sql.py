"""Internal: the credits ledger's SQL — reserve at submit, charge at start, settle at the end.

Every function runs inside the transaction of the job change it belongs to, so the ledger,
the balances and the jobs' ``credit`` column change together or not at all. Balance rows are
updated in owner order (two transactions never wait on each other's owners crosswise), and
before the transaction's events are inserted (`postgres_dialect`: no row lock after that).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import Connection, RowMapping
from sqlalchemy.exc import IntegrityError

from ..errors import InsufficientCredits, InvalidInput
from ..ledger import CreditBalance, CreditEntry, EntryType, from_micros, to_micros
from .dialect import SqlDialect
from .tables import credit_balances, credit_entries, jobs

__all__ = [
    "CHARGED",
    "RESERVED",
    "CreditTotals",
    "add_entry",
    "charge_started",
    "credit_totals",
    "ended_credit",
    "get_balance",
    "list_entries",
    "reserve",
    "settle_ended",
]

RESERVED, CHARGED, REFUNDED, RELEASED = "reserved", "charged", "refunded", "released"


@dataclass(frozen=True)
class CreditTotals:
    """What the ledger holds, for metrics: entries and credits by (type, kind), and the sum
    of all balances and reservations."""

    entries: list[tuple[str, str | None, int, float]]
    owners: int
    balance: float
    reserved: float


def reserve(conn: Connection, d: SqlDialect, owner: str, cost: float, kind: str) -> None:
    """Set ``cost`` aside from ``owner``'s available credits, or raise `InsufficientCredits`
    (the caller's transaction then stores nothing)."""
    micros = to_micros(cost)
    bal = credit_balances.c
    stmt = (
        sa.update(credit_balances)
        .where(bal.owner == owner, bal.balance - bal.reserved >= micros)
        .values(reserved=bal.reserved + micros, updated_at=d.now())
    )
    if conn.execute(stmt).rowcount == 1:
        return
    have = get_balance(conn, d, owner)
    raise InsufficientCredits(
        f"credits: a {kind!r} job costs {_show(cost)}; {owner!r} has {_show(have.available)} "
        f"available (balance {_show(have.balance)}, {_show(have.reserved)} reserved by "
        "queued jobs)"
    )


def charge_started(conn: Connection, d: SqlDialect, claimed: Sequence[RowMapping]) -> None:
    """Charge the jobs just claimed whose cost is reserved: their first start since submit or
    manual retry. Jobs charged already (an automatic retry) are left alone."""
    ids = [r["id"] for r in claimed if r["credit"] == RESERVED]
    if not ids:
        return
    stmt = (
        sa.update(jobs)
        .where(jobs.c.id.in_(ids), jobs.c.credit == RESERVED)
        .values(credit=CHARGED, charge_seq=jobs.c.charge_seq + 1)
        .returning(jobs.c.id, jobs.c.owner, jobs.c.kind, jobs.c.cost, jobs.c.charge_seq)
    )
    charged = conn.execute(stmt).mappings().all()
    _insert_entries(conn, d, [_job_entry(r, "charge", -to_micros(r["cost"])) for r in charged])
    moves: dict[str, list[int]] = {}
    for r in charged:
        micros = to_micros(r["cost"])
        _add(moves, r["owner"], -micros, -micros)
    _move(conn, d, moves)


def ended_credit(row: Mapping[Any, Any]) -> str | None:
    """The ``credit`` of a job that ends without success (failed, expired or canceled), from
    the row as it was: a reservation is released, a refundable charge refunded."""
    credit = cast(str | None, row["credit"])
    if credit == RESERVED:
        return RELEASED
    if credit == CHARGED and row["refundable"]:
        return REFUNDED
    return credit


def settle_ended(conn: Connection, d: SqlDialect, ended: Iterable[Mapping[Any, Any]]) -> None:
    """The ledger side of `ended_credit` for jobs that just ended without success, or were
    deleted while active (rows as they were before): release reservations, refund charges."""
    moves: dict[str, list[int]] = {}
    refunds: list[dict[str, Any]] = []
    for row in ended:
        after, micros = ended_credit(row), to_micros(row["cost"])
        if after == RELEASED:
            _add(moves, row["owner"], 0, -micros)
        elif after == REFUNDED:  # only ever from charged
            _add(moves, row["owner"], micros, 0)
            refunds.append(_job_entry(row, "refund", micros))
    _insert_entries(conn, d, refunds)
    _move(conn, d, moves)


def add_entry(
    conn: Connection, d: SqlDialect, owner: str, type_: EntryType, micros: int, note: str | None
) -> CreditEntry:
    """A grant or adjustment of ``micros`` to ``owner``; `InvalidInput` when it would leave the
    balance below what queued jobs reserved."""
    bal = credit_balances.c
    stmt = (
        sa.update(credit_balances)
        .where(bal.owner == owner, bal.balance + micros >= bal.reserved)
        .values(balance=bal.balance + micros, updated_at=d.now())
    )
    if conn.execute(stmt).rowcount == 0 and not _insert_balance(conn, d, owner, micros):
        have = get_balance(conn, d, owner)
        raise InvalidInput(
            f"amount: {_show(from_micros(micros))} would leave {owner!r} with "
            f"{_show(have.balance + from_micros(micros))}, below the {_show(have.reserved)} "
            "reserved by queued jobs"
        )
    row = conn.execute(
        sa.insert(credit_entries)
        .values(owner=owner, type=type_, amount=micros, note=note, created_at=d.now())
        .returning(*credit_entries.c)
    ).mappings()
    return _to_entry(row.one())


def get_balance(conn: Connection, d: SqlDialect, owner: str) -> CreditBalance:
    """``owner``'s balance and reservations (zero for an owner never granted any)."""
    stmt = sa.select(credit_balances.c.balance, credit_balances.c.reserved).where(
        credit_balances.c.owner == owner
    )
    row = conn.execute(stmt).first()
    if row is None:
        return CreditBalance(owner, 0.0, 0.0)
    return CreditBalance(owner, from_micros(row.balance), from_micros(row.reserved))


def list_entries(
    conn: Connection, d: SqlDialect, owner: str, limit: int, before: int | None
) -> list[CreditEntry]:
    """``owner``'s entries, newest first, with ids below ``before``."""
    c = credit_entries.c
    stmt = sa.select(credit_entries).where(c.owner == owner)
    if before is not None:
        stmt = stmt.where(c.id < before)
    rows = conn.execute(stmt.order_by(c.id.desc()).limit(limit)).mappings()
    return [_to_entry(r) for r in rows]


def credit_totals(conn: Connection, d: SqlDialect) -> CreditTotals:
    """Entries and credits by type and kind, and the sum of the balances."""
    c = credit_entries.c
    by_type = sa.select(c.type, c.kind, sa.func.count(), sa.func.sum(c.amount)).group_by(
        c.type, c.kind
    )
    entries = [(t, k, int(n), from_micros(int(s))) for t, k, n, s in conn.execute(by_type)]
    b = credit_balances.c
    sums = sa.select(
        sa.func.count(),
        sa.func.coalesce(sa.func.sum(b.balance), 0),
        sa.func.coalesce(sa.func.sum(b.reserved), 0),
    )
    owners, balance, reserved = conn.execute(sums).one()
    return CreditTotals(entries, int(owners), from_micros(int(balance)), from_micros(int(reserved)))


def _insert_balance(conn: Connection, d: SqlDialect, owner: str, micros: int) -> bool:
    """A first balance row for ``owner`` (a grant to a new owner); ``False`` when the row
    exists (the update's condition refused) or ``micros`` would make it negative."""
    if micros < 0:
        return False
    try:
        with conn.begin_nested():
            conn.execute(
                sa.insert(credit_balances).values(
                    owner=owner, balance=micros, reserved=0, updated_at=d.now()
                )
            )
    except IntegrityError:  # made meanwhile by another transaction: add to it
        bal = credit_balances.c
        stmt = (
            sa.update(credit_balances)
            .where(bal.owner == owner)
            .values(balance=bal.balance + micros, updated_at=d.now())
        )
        conn.execute(stmt)
    return True


def _add(moves: dict[str, list[int]], owner: str, balance: int, reserved: int) -> None:
    move = moves.setdefault(owner, [0, 0])
    move[0] += balance
    move[1] += reserved


def _move(conn: Connection, d: SqlDialect, moves: dict[str, list[int]]) -> None:
    """Apply ``{owner: [Δbalance, Δreserved]}``, in owner order (no crosswise lock waits)."""
    bal = credit_balances.c
    stmt = (
        sa.update(credit_balances)
        .where(bal.owner == sa.bindparam("o"))
        .values(
            balance=bal.balance + sa.bindparam("db", type_=sa.BigInteger),
            reserved=bal.reserved + sa.bindparam("dr", type_=sa.BigInteger),
            updated_at=d.now(),
        )
    )
    for owner in sorted(moves):
        db, dr = moves[owner]
        if db or dr:
            conn.execute(stmt, {"o": owner, "db": db, "dr": dr})


def _job_entry(row: Mapping[Any, Any], type_: str, micros: int) -> dict[str, Any]:
    return {
        "owner": row["owner"],
        "type": type_,
        "amount": micros,
        "job_id": row["id"],
        "kind": row["kind"],
        "charge_seq": row["charge_seq"],
    }


def _insert_entries(conn: Connection, d: SqlDialect, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(sa.insert(credit_entries).values(created_at=d.now(), note=None), rows)


def _to_entry(row: RowMapping) -> CreditEntry:
    return CreditEntry(
        id=row["id"],
        owner=row["owner"],
        type=row["type"],
        amount=from_micros(row["amount"]),
        job_id=row["job_id"],
        kind=row["kind"],
        charge_seq=row["charge_seq"],
        note=row["note"],
        created_at=datetime.fromtimestamp(row["created_at"], UTC),
    )


def _show(amount: float) -> str:
    """Credits as a person reads them: ``3``, ``2.5``."""
    return f"{amount:,.6f}".rstrip("0").rstrip(".")
