"""CLI commands for the credits ledger: ``credits grant|adjust|show``. Registered on `cli.cli`.

```
backburner credits grant alice 10 --note welcome
backburner credits adjust alice -2 --note "double charge"
backburner credits show alice
backburner credits show alice --url https://jobs.example.com --key KEY
```

Like the job commands they work on the database, or with ``--url URL --key KEY`` on a remote
``backburner serve``: there ``grant`` and ``adjust`` need an admin key, and ``show`` a key of
the owner's own (or an admin key).
"""

from __future__ import annotations

from typing import Annotated

import typer

from .cli import AppOpt, DatabaseUrlOpt, cli
from .cli_backend import JobsBackend
from .cli_jobs import KeyOpt, UrlOpt, run_jobs
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
    url: UrlOpt = None,
    key: KeyOpt = None,
    app_path: AppOpt = None,
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Add credits to an owner's balance."""
    _change(owner, amount, False, note, url, key, app_path, database_url)


@credits_cli.command("adjust", context_settings={"ignore_unknown_options": True})
def credits_adjust(
    owner: OwnerArg,
    amount: Annotated[float, typer.Argument(metavar="AMOUNT", help="credits, + or − (e.g. -2)")],
    note: NoteOpt = None,
    url: UrlOpt = None,
    key: KeyOpt = None,
    app_path: AppOpt = None,
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Correct an owner's balance, up or down (never below what queued jobs reserved)."""
    _change(owner, amount, True, note, url, key, app_path, database_url)


@credits_cli.command("show")
def credits_show(
    owner: OwnerArg,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="entries to list")] = 20,
    url: UrlOpt = None,
    key: KeyOpt = None,
    app_path: AppOpt = None,
    database_url: DatabaseUrlOpt = None,
) -> None:
    """An owner's balance, reservations and newest ledger entries."""

    async def work(backend: JobsBackend) -> None:
        balance, entries = await backend.credits(owner, limit)
        typer.echo(_balance_line(balance))
        for entry in entries:
            typer.echo(_entry_line(entry))

    run_jobs(work, url=url, key=key, app_path=app_path, database_url=database_url)


def _change(
    owner: str,
    amount: float,
    adjust: bool,
    note: str | None,
    url: str | None,
    key: str | None,
    app_path: str | None,
    database_url: str | None,
) -> None:
    """Grant or adjust, then print the entry made and the balance after it."""

    async def work(backend: JobsBackend) -> None:
        entry = await backend.change_credits(owner, amount, adjust=adjust, note=note)
        balance, _ = await backend.credits(owner, 1)
        _report(entry, balance)

    run_jobs(work, url=url, key=key, app_path=app_path, database_url=database_url)


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
