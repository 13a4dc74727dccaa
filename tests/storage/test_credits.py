"""Credits: reserve at submit, charge once at the first start, refund once at a final failure,
expiry or cancel; grants and adjustments; the database refuses a second charge or refund."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import BaseModel

import backburner as bb
from tests.conftest import count_rows, run_sql, wait_status

S = bb.JobStatus


class Script(BaseModel):
    scenes: list[str]


@pytest.fixture
def paid(app: bb.Backburner) -> bb.Backburner:
    """Kinds with costs: `paid` (3 credits; its input says whether to fail, and how), `kept`
    (2 credits, no refund), `scripted` (1 credit a scene) and `free`."""

    @app.task(cost=3, attempts=2, backoff="0s")
    async def paid(ctx: bb.Context, data: dict[str, Any]) -> str:
        if data.get("hold"):
            await asyncio.sleep(60)
        if data.get("fail_first") and ctx.attempt == 1:
            raise RuntimeError("flaky provider")
        if data.get("fail"):
            raise bb.Fail("the provider refused")
        return "ok"

    @app.task(cost=2, refund=False)
    async def kept(ctx: bb.Context, data: dict[str, Any]) -> str:
        raise bb.Fail("no luck")

    @app.task(cost=lambda script: len(script.scenes))
    async def scripted(ctx: bb.Context, script: Script) -> int:
        return len(script.scenes)

    @app.task
    async def free(ctx: bb.Context, data: dict[str, Any]) -> None:
        return None

    return app


async def drain(app: bb.Backburner) -> None:
    await app.worker(concurrency=4, burst=True).run()


async def ledger(app: bb.Backburner, owner: str = "alice") -> list[tuple[str, float, int | None]]:
    """``(type, amount, charge_seq)`` of the owner's entries, oldest first."""
    entries = await app.credits.entries(owner)
    return [(e.type, e.amount, e.charge_seq) for e in reversed(entries)]


async def balance(app: bb.Backburner, owner: str = "alice") -> tuple[float, float, float]:
    b = await app.credits.balance(owner)
    return b.balance, b.reserved, b.available


async def test_grants_and_adjustments_make_the_balance(paid: bb.Backburner) -> None:
    assert await balance(paid) == (0, 0, 0)
    entry = await paid.credits.grant("alice", 10, note="welcome")
    assert (entry.type, entry.amount, entry.note, entry.job_id) == ("grant", 10, "welcome", None)
    await paid.credits.adjust("alice", -2.5)
    await paid.credits.grant("alice", 0.000001)
    assert await balance(paid) == (7.500001, 0, 7.500001)
    assert [e.type for e in await paid.credits.entries("alice")] == [
        "grant",
        "adjustment",
        "grant",
    ]
    page = await paid.credits.entries("alice", limit=2)
    older = await paid.credits.entries("alice", limit=2, before=page[-1].id)
    assert [e.id for e in page + older] == sorted((e.id for e in page + older), reverse=True)
    assert len(older) == 1


@pytest.mark.parametrize(
    ("call", "amount", "match"),
    [
        ("grant", 0, "amount: must be greater than 0"),
        ("grant", -1, "amount: must be greater than 0"),
        ("grant", 0.0000001, "amount: at most 6 decimals"),
        ("grant", float("nan"), "amount: must be a number"),
        ("grant", "5", "amount: must be a number"),
        ("grant", True, "amount: must be a number"),
        ("grant", 10**13, "amount: must be at most"),
        ("adjust", 0, "amount: must be non-zero"),
        ("adjust", -1, "would leave 'alice' with -1, below the 0 reserved"),
    ],
)
async def test_bad_amounts_are_refused_and_store_nothing(
    paid: bb.Backburner, db_url: str, call: str, amount: Any, match: str
) -> None:
    await paid.open()
    with pytest.raises(bb.InvalidInput, match=match):
        await getattr(paid.credits, call)("alice", amount)
    assert count_rows(db_url, "credit_entries") == 0
    assert await balance(paid) == (0, 0, 0)


async def test_a_submit_the_owner_cannot_cover_is_refused_and_stores_nothing(
    paid: bb.Backburner, db_url: str
) -> None:
    with pytest.raises(bb.InsufficientCredits, match="costs 3; 'alice' has 0 available"):
        await paid.submit("paid", {}, owner="alice")
    await paid.credits.grant("alice", 4)
    await paid.submit("paid", {}, owner="alice")  # reserves 3 of the 4
    with pytest.raises(bb.InsufficientCredits, match=r"has 1 available \(balance 4, 3 reserved"):
        await paid.submit("paid", {}, owner="alice")
    assert count_rows(db_url) == 1
    assert await balance(paid) == (4, 3, 1)
    await paid.submit("free", {}, owner="alice")  # free kinds need no credits


async def test_success_is_charged_once_even_after_an_automatic_retry(paid: bb.Backburner) -> None:
    await paid.credits.grant("alice", 10)
    job = await paid.submit("paid", {"fail_first": True}, owner="alice")
    assert await balance(paid) == (10, 3, 7)
    await drain(paid)
    done = await paid.get(job.id)
    assert (done.status, done.attempt) == (S.SUCCEEDED, 2)
    assert await balance(paid) == (7, 0, 7)
    assert await ledger(paid) == [("grant", 10, None), ("charge", -3, 1)]
    charge = (await paid.credits.entries("alice"))[0]
    assert (charge.job_id, charge.kind) == (job.id, "paid")


async def test_a_final_failure_is_refunded_once_and_a_manual_retry_charges_again(
    paid: bb.Backburner,
) -> None:
    await paid.credits.grant("alice", 5)
    job = await paid.submit("paid", {"fail": True}, owner="alice")
    await drain(paid)
    assert (await paid.get(job.id)).status is S.FAILED
    assert await balance(paid) == (5, 0, 5)
    assert await ledger(paid) == [("grant", 5, None), ("charge", -3, 1), ("refund", 3, 1)]

    await paid.retry(job.id)
    assert await balance(paid) == (5, 3, 2)
    await drain(paid)
    assert await ledger(paid) == [
        ("grant", 5, None),
        ("charge", -3, 1),
        ("refund", 3, 1),
        ("charge", -3, 2),
        ("refund", 3, 2),
    ]
    await paid.credits.adjust("alice", -4)
    with pytest.raises(bb.InsufficientCredits):
        await paid.retry(job.id)
    assert (await paid.get(job.id)).status is S.FAILED  # the refused retry changed nothing


async def test_a_kind_without_refunds_keeps_the_charge(paid: bb.Backburner) -> None:
    await paid.credits.grant("alice", 5)
    job = await paid.submit("kept", {}, owner="alice")
    await drain(paid)
    assert (await paid.get(job.id)).status is S.FAILED
    assert await balance(paid) == (3, 0, 3)
    assert await ledger(paid) == [("grant", 5, None), ("charge", -2, 1)]


async def test_a_cost_can_depend_on_the_input(paid: bb.Backburner) -> None:
    await paid.credits.grant("alice", 5)
    job = await paid.submit("scripted", {"scenes": ["a", "b", "c"]}, owner="alice")
    assert job.cost == 3
    with pytest.raises(bb.InsufficientCredits, match="costs 4"):
        await paid.submit("scripted", {"scenes": ["a", "b", "c", "d"]}, owner="alice")
    await drain(paid)
    assert await balance(paid) == (2, 0, 2)


async def test_canceling_or_deleting_a_queued_job_releases_its_reservation(
    paid: bb.Backburner,
) -> None:
    await paid.credits.grant("alice", 6)
    first = await paid.submit("paid", {}, owner="alice")
    second = await paid.submit("paid", {}, owner="alice")
    assert await balance(paid) == (6, 6, 0)
    await paid.cancel(first.id)
    await paid.delete(second.id)
    assert await balance(paid) == (6, 0, 6)
    assert await ledger(paid) == [("grant", 6, None)]


async def test_canceling_or_deleting_a_running_job_refunds_its_charge(paid: bb.Backburner) -> None:
    await paid.credits.grant("alice", 6)
    first = await paid.submit("paid", {"hold": True}, owner="alice")
    second = await paid.submit("paid", {"hold": True}, owner="alice")
    async with paid.worker(concurrency=4):
        await wait_status(paid, first.id, S.RUNNING)
        await wait_status(paid, second.id, S.RUNNING)
        assert await balance(paid) == (0, 0, 0)
        await paid.cancel(first.id)
        await wait_status(paid, first.id, S.CANCELED)
        await paid.delete(second.id)
    assert await balance(paid) == (6, 0, 6)
    charges = [("charge", -3, 1), ("refund", 3, 1)] * 2
    assert sorted(await ledger(paid)) == sorted([("grant", 6, None), *charges])


async def test_an_expired_queued_job_releases_its_reservation(
    paid: bb.Backburner, db_url: str
) -> None:
    await paid.credits.grant("alice", 3)
    job = await paid.submit("paid", {}, owner="alice")
    run_sql(db_url, "UPDATE jobs SET expire_at = 0 WHERE id = :id", id=job.id)
    storage = await paid.open()
    report = await storage.run_maintenance(retention_s=3600, limit=100)
    assert report.expired == 1
    assert (await paid.get(job.id)).error == bb.JobError(
        type="expired", message="the job did not finish before it expired"
    )
    assert await balance(paid) == (3, 0, 3)


async def test_the_database_refuses_a_second_charge_or_refund_of_one_charge(
    paid: bb.Backburner, db_url: str
) -> None:
    await paid.credits.grant("alice", 3)
    job = await paid.submit("paid", {}, owner="alice")
    await drain(paid)
    insert = (
        "INSERT INTO credit_entries (owner, type, amount, job_id, kind, charge_seq, created_at)"
        " VALUES ('alice', :type, :amount, :job, 'paid', 1, 0)"
    )
    with pytest.raises(sa.exc.IntegrityError):
        run_sql(db_url, insert, type="charge", amount=-3_000_000, job=job.id)
    run_sql(db_url, insert, type="refund", amount=3_000_000, job=job.id)  # one is allowed
    with pytest.raises(sa.exc.IntegrityError):
        run_sql(db_url, insert, type="refund", amount=3_000_000, job=job.id)
    with pytest.raises(sa.exc.IntegrityError):  # the balance never goes below zero
        run_sql(db_url, "UPDATE credit_balances SET balance = -1 WHERE owner = 'alice'")


async def test_metrics_show_the_ledger(paid: bb.Backburner) -> None:
    await paid.credits.grant("alice", 5)
    await paid.submit("paid", {}, owner="alice")
    await drain(paid)
    text = paid.metrics.render(await paid.job_counts(), await paid.credits.totals()).decode()
    assert 'backburner_credit_entries_total{kind="paid",type="charge"} 1.0' in text
    assert 'backburner_credits_total{kind="paid",type="charge"} 3.0' in text
    assert "backburner_credit_balance 2.0" in text
    assert "backburner_credit_owners 1.0" in text
