"""Webhooks end to end in one process: the outbox, signed POSTs, retries, giving up."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

import backburner as bb
from backburner.webhooks import verify
from tests.conftest import count_rows, eventually, wait_status
from tests.receiver import Received, receiving


def webhook_app(db_url: str, **settings: Any) -> bb.Backburner:
    app = bb.Backburner(
        settings=bb.Settings(
            **{
                "database_url": db_url,
                "webhook_allow": ("127.0.0.0/8",),
                "webhook_retry_delays_s": (0.05, 0.05, 0.05),
                "webhook_timeout_s": 2.0,
                **settings,
            }
        )
    )

    @app.task(attempts=1)
    async def echo(ctx: bb.Context, data: dict[str, Any]) -> dict[str, Any]:
        if data.get("fail"):
            raise bb.Fail("the provider refused")
        return {"echo": data.get("text")}

    return app


async def deliveries_settled(app: bb.Backburner, job_id: str, count: int) -> list[Any]:
    async def settled() -> bool:
        found = await app.webhook_deliveries(job_id)
        return len(found) == count and all(d.status != "pending" for d in found)

    await eventually(settled, timeout=20)
    return await app.webhook_deliveries(job_id)


async def test_a_receiver_failing_twice_gets_the_delivery_on_the_third_try(db_url: str) -> None:
    app = webhook_app(db_url)
    with receiving([500, 503]) as receiver:
        async with app.worker():
            job = await app.submit(
                "echo", {"text": "hi"}, owner="alice", webhook={"url": receiver.url}
            )
            await app.wait(job.id, timeout=10)
            (delivery,) = await deliveries_settled(app, job.id, 1)
        sent = receiver.received
    assert [d.status for d in [delivery]] == ["delivered"]
    assert delivery.attempts == 3 and delivery.last_status_code == 200
    assert len(sent) == 3
    assert {r.headers["webhook-id"] for r in sent} == {delivery.id}  # one id on every retry
    assert len({r.body for r in sent}) == 1
    secret = await app.webhook_secret("alice")
    for request in sent:
        event = verify(request.body, request.headers, secret)
        assert event["type"] == "job.succeeded"
        assert event["data"]["id"] == job.id
        assert event["data"]["output"] == {"echo": "hi"}
        assert event["data"]["webhook"]["url"] == receiver.url
    await app.close()


async def test_only_the_chosen_events_are_sent_each_as_it_happened(db_url: str) -> None:
    app = webhook_app(db_url)
    with receiving() as receiver:
        async with app.worker():
            spec = bb.Webhook(url=receiver.url, events=["queued", "running", "failed"])
            job = await app.submit("echo", {"fail": True}, owner="alice", webhook=spec)
            quiet = await app.submit(
                "echo",
                {"text": "x"},
                owner="alice",
                webhook={"url": receiver.url, "events": ["failed"]},
            )
            await app.wait(job.id, timeout=10)
            await app.wait(quiet.id, timeout=10)
            await deliveries_settled(app, job.id, 3)
        events = [json.loads(r.body) for r in receiver.wait_for(3)]
    assert {e["data"]["id"] for e in events} == {job.id}  # the succeeded job sent nothing
    by_type = {e["type"]: e["data"] for e in events}
    assert set(by_type) == {"job.queued", "job.running", "job.failed"}
    assert by_type["job.queued"]["status"] == "queued"  # a snapshot, not the job as it is now
    assert by_type["job.running"]["attempt"] == 1
    assert by_type["job.failed"]["error"] == {
        "type": "handler_error",
        "message": "the provider refused",
    }
    assert await app.webhook_deliveries(quiet.id) == []
    await app.close()


async def test_a_delivery_is_given_up_after_the_schedule_with_the_last_error(
    db_url: str,
) -> None:
    app = webhook_app(db_url)
    with receiving([500, 500, 500, 500, 500]) as receiver:
        async with app.worker():
            job = await app.submit("echo", {}, owner="alice", webhook={"url": receiver.url})
            (delivery,) = await deliveries_settled(app, job.id, 1)
        assert len(receiver.received) == 4  # the first try and three retries
    assert delivery.status == "failed"
    assert delivery.attempts == 4
    assert delivery.last_status_code == 500
    assert delivery.last_error == "HTTP 500 (no attempts left)"
    await app.close()


async def test_an_unreachable_receiver_is_retried_and_recorded(db_url: str) -> None:
    app = webhook_app(db_url, webhook_retry_delays_s=(0.05,))
    with receiving() as receiver:
        url = receiver.url
    async with app.worker():  # the receiver has gone: connections are refused
        job = await app.submit("echo", {}, owner="alice", webhook={"url": url})
        (delivery,) = await deliveries_settled(app, job.id, 1)
    assert delivery.status == "failed" and delivery.attempts == 2
    assert delivery.last_status_code is None
    assert delivery.last_error is not None and "ConnectError" in delivery.last_error
    await app.close()


async def test_the_delivery_is_written_with_the_job_change_even_with_no_sender(
    db_url: str,
) -> None:
    app = webhook_app(db_url)
    with receiving() as receiver:
        job = await app.submit("echo", {}, owner="alice", webhook={"url": receiver.url})
        await app.cancel(job.id)  # the change commits its delivery in the same transaction
        (pending,) = await app.webhook_deliveries(job.id)
        assert pending.status == "pending" and pending.type == "job.canceled"
        assert receiver.received == []
        async with app.worker():  # a sender that starts later still sends it
            (delivery,) = await deliveries_settled(app, job.id, 1)
        assert delivery.status == "delivered"
        assert json.loads(receiver.received[0].body)["data"]["status"] == "canceled"
    await app.close()


async def test_deleting_a_job_drops_its_deliveries(db_url: str) -> None:
    app = webhook_app(db_url)
    job = await app.submit("echo", {}, owner="alice", webhook={"url": "http://127.0.0.1:9/h"})
    await app.cancel(job.id)
    await app.delete(job.id)
    assert count_rows(db_url, "webhook_deliveries") == 0
    await app.close()


@pytest.mark.parametrize(
    ("webhook", "field", "message"),
    [
        ({"url": "http://127.0.0.1:9/h"}, "webhook.url", "private, loopback or link-local"),
        ({"url": "http://169.254.169.254/latest"}, "webhook.url", "private"),
        ({"url": "ftp://example.com/h"}, "webhook.url", "http:// or https://"),
        ({"url": "https://example.com/h", "events": ["done"]}, "webhook.events.0", "Input should"),
        ({"url": "https://example.com/h", "events": []}, "webhook.events", "at least 1"),
        ({"url": "https://example.com/h", "secret": "x"}, "webhook.secret", "Extra inputs"),
        ({}, "webhook.url", "Field required"),
    ],
)
async def test_bad_webhooks_are_refused_naming_the_field_and_store_nothing(
    db_url: str, webhook: dict[str, Any], field: str, message: str
) -> None:
    app = webhook_app(db_url, webhook_allow=())
    with pytest.raises(bb.InputValidationError) as caught:
        await app.submit("echo", {}, owner="alice", webhook=webhook)
    assert f"{field.split('.')[0]}" in str(caught.value)
    (error,) = caught.value.errors
    assert ".".join(str(p) for p in error["loc"]) == field
    assert message in error["msg"]
    assert (await app.list()).jobs == []
    await app.close()


def _types(received: list[Received]) -> list[str]:
    return [json.loads(r.body)["type"] for r in received]


async def test_a_retried_job_reports_its_new_ending_too(db_url: str) -> None:
    app = webhook_app(db_url)
    with receiving() as receiver:
        async with app.worker():
            job = await app.submit(
                "echo", {"fail": True}, owner="alice", webhook={"url": receiver.url}
            )
            await wait_status(app, job.id, "failed")
            await app.retry(job.id)
            await wait_status(app, job.id, "failed")
            await deliveries_settled(app, job.id, 2)
        assert _types(receiver.wait_for(2)) == ["job.failed", "job.failed"]
        await asyncio.sleep(0)
    await app.close()


async def test_a_burst_worker_sends_its_jobs_webhooks_before_it_returns(db_url: str) -> None:
    app = webhook_app(db_url)
    with receiving() as receiver:
        job = await app.submit("echo", {}, owner="alice", webhook={"url": receiver.url})
        await app.worker(burst=True).run()  # a tick: runs what is runnable, then ends
        assert [d.status for d in await app.webhook_deliveries(job.id)] == ["delivered"]
        assert len(receiver.received) == 1
    await app.close()
