"""A hypothesis state machine over the credits ledger, on both backends: random grants,
submits, claims, outcomes, crashes (a claim whose lease has already expired: the charge is
made, the worker never finishes), retries, cancels, expiries and deletes. After every step:

- every owner's balance is the sum of their entries (grants − charges + refunds ± adjustments)
  and never negative, and never below what their queued jobs reserved;
- what is reserved is exactly the cost of the jobs whose credit is ``reserved``;
- a job has exactly as many charges as its ``charge_seq``, at most one refund per charge,
  and a refund only for a charge;
- a job that ended without success gave back its reservation, and its charge when refundable.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

import backburner as bb
from backburner.errors import InsufficientCredits, InvalidInput, InvalidTransition, JobNotFound
from backburner.storage import ClaimRequest, Lease, Outcome
from tests.conftest import admin_sql, direct_engine, run_sql

S = bb.JobStatus
OWNERS = st.sampled_from(["ann", "bob", "cy"])
KINDS = ("paid", "kept", "free")
_REFUSED = (InsufficientCredits, InvalidInput, InvalidTransition, JobNotFound)


def build(db_url: str) -> bb.Backburner:
    app = bb.Backburner(settings=bb.Settings(database_url=db_url, lease_s=30.0))

    @app.task(cost=3, attempts=3)
    async def paid(ctx: bb.Context, data: dict[str, Any]) -> None: ...

    @app.task(cost=2, refund=False, attempts=3)
    async def kept(ctx: bb.Context, data: dict[str, Any]) -> None: ...

    @app.task(attempts=3)
    async def free(ctx: bb.Context, data: dict[str, Any]) -> None: ...

    return app


class Ledger(RuleBasedStateMachine):
    """Each example on a fresh database of its own (so a replayed example sees what it saw)."""

    #: A fresh database's URL for each example.
    fresh: Callable[[], str]
    loop: asyncio.AbstractEventLoop
    _names = itertools.count()

    def __init__(self) -> None:
        super().__init__()
        self.jobs: list[str] = []
        self.held: list[Lease] = []
        self.db_url = type(self).fresh()
        self.app = build(self.db_url)
        self.run(self.app.open())  # the schema, before the first invariant looks

    def teardown(self) -> None:
        self.run(self.app.close())
        if not self.db_url.startswith("sqlite"):
            schema = self.db_url.split("schema=")[1].split("&")[0]
            admin_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def attempt(self, coro: Any) -> Any:
        """Run an action that the rules may refuse (no credits, wrong state, gone)."""
        try:
            return self.run(coro)
        except _REFUSED:
            return None

    @rule(owner=OWNERS, amount=st.integers(1, 8))
    def grant(self, owner: str, amount: int) -> None:
        self.run(self.app.credits.grant(owner, amount))

    @rule(owner=OWNERS, amount=st.integers(-6, -1))
    def adjust_down(self, owner: str, amount: int) -> None:
        self.attempt(self.app.credits.adjust(owner, amount))

    @rule(owner=OWNERS, kind=st.sampled_from(KINDS))
    def submit(self, owner: str, kind: str) -> None:
        job = self.attempt(self.app.submit(kind, {"n": next(self._names)}, owner=owner))
        if job is not None:
            self.jobs.append(job.id)

    @rule(limit=st.integers(1, 4), crash=st.booleans())
    def claim(self, limit: int, crash: bool) -> None:
        """Claim jobs; a crashed worker's lease is already over (it will never finish)."""
        storage = self.run(self.app.open())
        claims = self.run(
            storage.claim_jobs("w", [ClaimRequest(KINDS, 4)], 0 if crash else 30, limit)
        )
        if not crash:
            self.held += [c.lease for c in claims]

    @rule(data=st.data(), end=st.sampled_from(["succeeded", "failed", "canceled", "retry"]))
    def finish(self, data: st.DataObject, end: str) -> None:
        if not self.held:
            return
        lease = self.held.pop(data.draw(st.integers(0, len(self.held) - 1)))
        outcome = {
            "succeeded": Outcome(lease, S.SUCCEEDED),
            "failed": Outcome(
                lease, S.FAILED, error=bb.JobError(type="handler_error", message="x")
            ),
            "canceled": Outcome(lease, S.CANCELED),
            "retry": Outcome(lease, S.QUEUED, delay_s=0.0),
        }[end]
        self.run(self.run(self.app.open()).finish_jobs([outcome]))

    @rule()
    def maintenance(self) -> None:
        """Reclaim expired leases (crashed workers' jobs: requeued, or failed when worker
        after worker died), expire overdue jobs."""
        storage = self.run(self.app.open())
        self.run(storage.run_maintenance(retention_s=86400, limit=100))

    @rule(data=st.data(), action=st.sampled_from(["cancel", "retry", "delete", "expire"]))
    def act(self, data: st.DataObject, action: str) -> None:
        if not self.jobs:
            return
        job_id = data.draw(st.sampled_from(self.jobs))
        if action == "expire":
            run_sql(self.db_url, "UPDATE jobs SET expire_at = 0 WHERE id = :id", id=job_id)
            self.maintenance()
        else:
            self.attempt(getattr(self.app, action)(job_id))

    @invariant()
    def books_balance(self) -> None:
        check_books(self.db_url)


def check_books(db_url: str) -> None:
    """The invariants of the module docstring, over the whole database."""
    engine = direct_engine(db_url)
    try:
        with engine.connect() as conn:
            _check_books(lambda sql: list(conn.execute(sa.text(sql))))
    finally:
        engine.dispose()


def _check_books(query: Callable[[str], list[Any]]) -> None:
    sums = dict(query("SELECT owner, SUM(amount) FROM credit_entries GROUP BY owner"))
    reserved = dict(
        query(
            "SELECT owner, SUM(CAST(cost * 1000000 AS BIGINT)) FROM jobs"
            " WHERE credit = 'reserved' GROUP BY owner",
        )
    )
    for owner, balance, held in query("SELECT owner, balance, reserved FROM credit_balances"):
        assert balance == sums.get(owner, 0), owner
        assert 0 <= held <= balance, owner
        assert held == reserved.get(owner, 0), owner
    entries = Counter(
        (job, seq, kind)
        for job, seq, kind in query(
            "SELECT job_id, charge_seq, type FROM credit_entries WHERE job_id IS NOT NULL"
        )
    )
    assert max(entries.values(), default=1) == 1
    jobs = query("SELECT id, status, cost, credit, charge_seq, refundable FROM jobs")
    for job_id, status, cost, credit, charge_seq, refundable in jobs:
        charges = [seq for (j, seq, kind) in entries if j == job_id and kind == "charge"]
        refunds = [seq for (j, seq, kind) in entries if j == job_id and kind == "refund"]
        assert sorted(charges) == list(range(1, charge_seq + 1)), job_id
        assert set(refunds) <= set(charges), job_id
        if cost == 0:
            assert credit is None and not charges, job_id
        elif status in ("queued", "running"):
            assert credit in ("reserved", "charged"), (job_id, status, credit)
            assert (credit == "charged") == (charge_seq in charges and charge_seq not in refunds)
        elif status == "succeeded":
            assert credit == "charged" and charge_seq not in refunds, job_id
        else:  # failed or canceled: nothing still reserved; the charge back when refundable
            assert credit in ("released", "refunded", "charged"), (job_id, credit)
            if credit == "charged":
                assert not refundable and charge_seq not in refunds, job_id
            if credit == "refunded":
                assert charge_seq in refunds, job_id


@pytest.mark.timeout(600)
def test_the_books_always_balance(db_url: str, tmp_path: Path) -> None:
    names = itertools.count()

    def fresh() -> str:
        n = next(names)
        if db_url.startswith("sqlite"):
            return f"sqlite:///{tmp_path / f'example{n}.db'}"
        return db_url.replace("schema=", "schema=x{n}_".replace("{n}", str(n)), 1)

    loop = asyncio.new_event_loop()
    attributes = {"fresh": staticmethod(fresh), "loop": loop}
    machine: type[Ledger] = type("LedgerOnFreshDatabases", (Ledger,), attributes)
    try:
        run_state_machine_as_test(
            machine,
            settings=settings(
                max_examples=25,
                stateful_step_count=30,
                deadline=None,
                database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            ),
        )
    finally:
        loop.close()
