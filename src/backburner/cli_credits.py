"""CLI commands for the credits ledger: ``credits grant|adjust|show``. Registered on `cli.cli`.

```
backburner credits grant alice 10 --note welcome
backburner credits adjust alice -2 --note "double charge"
backburner credits show alice
```
"""

from __future__ import annotations

from typing import Annotated

import typer

from .app import Backburner
from .cli import DatabaseUrlOpt, cli, run
from .ledger import CreditBalance, CreditEntry

__all__ = ["credits_adjust", "credits_cli", "credits_grant", "credits_show"]

credits_cli = typer.Typer(help="Grant, adjust and show owners' credits.", no_args_is_help=True)
cli.add_typer(credits_cli, name="credits")

OwnerArg = Annotated[str, typer.Argument(metavar="OWNER", help="whose credits")]
NoteOpt = Annotated[str | None, typer.Option(help="why, kept with the ledger entry")]


@credits_cli.command("grant")
def credits_grant(
    owner: OwnerArg,
    amount: Annotated[float, typer.Argument(metavar="AMOUNT", help="credits to add (> 0)")],
    note: NoteOpt = None,
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Add credits to an owner's balance."""

    async def work(app: Backburner) -> None:
        entry = await app.credits.grant(owner, amount, note=note)
        _report(entry, await app.credits.balance(owner))

    run(work, database_url=database_url)


@credits_cli.command("adjust", context_settings={"ignore_unknown_options": True})
def credits_adjust(
    owner: OwnerArg,
    amount: Annotated[float, typer.Argument(metavar="AMOUNT", help="credits, + or − (e.g. -2)")],
    note: NoteOpt = None,
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Correct an owner's balance, up or down (never below what queued jobs reserved)."""

    async def work(app: Backburner) -> None:
        entry = await app.credits.adjust(owner, amount, note=note)
        _report(entry, await app.credits.balance(owner))

    run(work, database_url=database_url)


@credits_cli.command("show")
def credits_show(
    owner: OwnerArg,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="entries to list")] = 20,
    database_url: DatabaseUrlOpt = None,
) -> None:
    """An owner's balance, reservations and newest ledger entries."""

    async def work(app: Backburner) -> None:
        typer.echo(_balance_line(await app.credits.balance(owner)))
        for entry in await app.credits.entries(owner, limit=limit):
            typer.echo(_entry_line(entry))

    run(work, database_url=database_url)


def _report(entry: CreditEntry, balance: CreditBalance) -> None:
    typer.echo(_entry_line(entry))
    typer.echo(_balance_line(balance))


def _balance_line(b: CreditBalance) -> str:
    return (
        f"{b.owner}: balance {_num(b.balance)}, reserved {_num(b.reserved)}, "
        f"available {_num(b.available)}"
    )


def _entry_line(e: CreditEntry) -> str:
    when = e.created_at.strftime("%Y-%m-%d %H:%M:%S")
    job = f" job {e.job_id} ({e.kind}, charge {e.charge_seq})" if e.job_id else ""
    note = f"  {e.note}" if e.note else ""
    return f"#{e.id} {when} {e.type:<10} {_signed(e.amount):>10}{job}{note}"


def _num(amount: float) -> str:
    return f"{amount:,.6f}".rstrip("0").rstrip(".")


def _signed(amount: float) -> str:
    return ("+" if amount > 0 else "") + _num(amount)
