"""A worker SIGKILLed in the middle of a webhook POST: another worker delivers it."""

from __future__ import annotations

import json

import pytest

import backburner as bb
from tests.acceptance.conftest import Workers
from tests.apps.acceptance_app import build_app
from tests.conftest import eventually, wait_status
from tests.receiver import receiving

pytestmark = pytest.mark.slow

HOOK_ENV = {
    "BACKBURNER_WEBHOOK_ALLOW": "127.0.0.0/8",
    "BACKBURNER_WEBHOOK_TIMEOUT": "1s",  # a claimed delivery is retaken after 2 × 1 s + 5 s
    "BACKBURNER_WEBHOOK_RETRIES": "100ms",
}


async def test_a_delivery_in_flight_when_its_worker_dies_is_sent_again(
    workers: Workers, db_url: str
) -> None:
    app = build_app(bb.Settings(database_url=db_url, webhook_allow=("127.0.0.0/8",)))
    with receiving(["hang"]) as receiver:
        job = await app.submit("sleepy", {"ms": 0}, owner="alice", webhook={"url": receiver.url})
        first = workers.start(env=HOOK_ENV)
        (held,) = await receiver.arrived(1)  # the POST is in flight: the receiver holds it
        first.kill()
        await wait_status(app, job.id, "succeeded")
        (claimed,) = await app.webhook_deliveries(job.id)
        assert claimed.status == "pending" and claimed.attempts == 1
        workers.start(env=HOOK_ENV)

        async def delivered() -> bool:
            return [d.status for d in await app.webhook_deliveries(job.id)] == ["delivered"]

        await eventually(delivered, timeout=60)
        again = receiver.received[1]
    (delivery,) = await app.webhook_deliveries(job.id)
    assert delivery.attempts == 2
    assert again.headers["webhook-id"] == held.headers["webhook-id"] == delivery.id
    assert again.body == held.body
    assert json.loads(again.body)["data"]["status"] == "succeeded"
    await app.close()
