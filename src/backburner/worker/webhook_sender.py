"""Internal: the webhook sender — claims due deliveries from the outbox and POSTs them.

Runs beside every worker. An idle sender costs one indexed read per database change (at most
every `_MIN_GAP_S`); the POSTs run concurrently, each bounded by ``webhook_timeout_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

import httpx

from ..errors import StorageError
from ..storage import DeliveryResult, Storage, WebhookDelivery
from ..webhooks.addresses import AddressRefused, Allowance, resolve_allowed
from ..webhooks.signing import sign

if TYPE_CHECKING:
    from ..app import Backburner

__all__ = ["WebhookSender"]

log = logging.getLogger(__name__)

#: Most deliveries claimed (and sent at once) per round.
_BATCH = 20
#: Shortest pause between two looks at the outbox, however busy the database is.
_MIN_GAP_S = 0.05
#: Longest pause while nothing is due (a delivery made by another node wakes us sooner).
_IDLE_S = 1.0
#: Longest ``Retry-After`` honoured, so a receiver cannot park a delivery for a year.
_MAX_RETRY_AFTER_S = 3600.0


class WebhookSender:
    """Sends an app's webhook deliveries until stopped."""

    def __init__(self, app: Backburner, storage: Storage) -> None:
        self.app = app
        self.storage = storage
        self.settings = app.settings
        self.allowance = Allowance(self.settings.webhook_allow)
        #: Claimed deliveries stay ours this long: past it, another sender may retry them.
        self.lease_s = self.settings.webhook_timeout_s * 2 + 5

    def _client(self) -> httpx.AsyncClient:
        # trust_env=False: a proxy from the environment would bypass the address check.
        timeout = httpx.Timeout(self.settings.webhook_timeout_s)
        return httpx.AsyncClient(timeout=timeout, trust_env=False)

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver due webhooks until ``stop`` is set."""
        async with self._client() as http:
            while not stop.is_set():
                sent, delay = await self._round(http)
                if sent < _BATCH and (delay is None or delay > 0):
                    await self._pause(stop, _IDLE_S if delay is None else min(delay, _IDLE_S))

    async def drain(self, rounds: int = 50) -> None:
        """Send what is due now, then return: a burst worker (a tick) ends with this, so
        the deliveries its jobs made go out without waiting for the next tick."""
        async with self._client() as http:
            for _ in range(rounds):
                sent, _delay = await self._round(http)
                if not sent:
                    return

    async def _round(self, http: httpx.AsyncClient) -> tuple[int, float | None]:
        """Send what is due: how many were sent, and how long until more is due."""
        try:
            delay = await self.storage.seconds_until_webhook_due()
            if delay is None or delay > 0:
                return 0, delay
            claimed = await self.storage.claim_webhook_deliveries(_BATCH, self.lease_s)
        except StorageError as exc:
            log.warning("webhook outbox unreadable: %s", exc, extra={"action": "webhook_error"})
            return 0, _IDLE_S
        await asyncio.gather(*(self._deliver(http, delivery) for delivery in claimed))
        return len(claimed), _MIN_GAP_S

    async def _pause(self, stop: asyncio.Event, seconds: float) -> None:
        """Until a database change, ``stop`` or ``seconds``; never shorter than the gap."""
        await asyncio.sleep(_MIN_GAP_S)
        waits = [
            asyncio.ensure_future(stop.wait()),
            asyncio.ensure_future(self.storage.wait_for_change(max(seconds - _MIN_GAP_S, 0))),
        ]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()

    async def _deliver(self, http: httpx.AsyncClient, delivery: WebhookDelivery) -> None:
        result = await self.attempt(http, delivery)
        with contextlib.suppress(StorageError):  # unrecorded: the lease lapses, it is resent
            await self.storage.record_webhook_delivery(delivery, result)
        if not result.delivered:
            log.info(
                "webhook %s for job %s: attempt %d failed: %s",
                delivery.id,
                delivery.job_id,
                delivery.attempts,
                result.error,
                extra={"action": "webhook_failed", "job_id": delivery.job_id},
            )

    async def attempt(self, http: httpx.AsyncClient, delivery: WebhookDelivery) -> DeliveryResult:
        """One signed POST of ``delivery``; how it went."""
        try:
            async with asyncio.timeout(self.settings.webhook_timeout_s):
                await resolve_allowed(delivery.url, self.allowance)
        except AddressRefused as exc:  # the address changed since submit: never retried
            return DeliveryResult(False, error=f"refused: the URL {exc}")
        except TimeoutError:
            return self._retry(delivery, None, "the host name did not resolve in time")
        msg_id, timestamp = delivery.id, int(time.time())
        secret = await self.app.webhook_secret(delivery.owner)
        headers = {
            "content-type": "application/json",
            "user-agent": "backburner-webhooks/1",
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secret, msg_id, timestamp, delivery.payload),
        }
        try:
            request = http.build_request(
                "POST", delivery.url, content=delivery.payload, headers=headers
            )
            response = await http.send(request, stream=True)  # the body is never read
            await response.aclose()
        except httpx.HTTPError as exc:
            return self._retry(delivery, None, f"{type(exc).__name__}: {exc}".rstrip(": "))
        if 200 <= response.status_code < 300:
            return DeliveryResult(True, response.status_code)
        after = _retry_after(response.headers.get("retry-after"))
        return self._retry(delivery, response.status_code, f"HTTP {response.status_code}", after)

    def _retry(
        self, delivery: WebhookDelivery, status: int | None, error: str, after: float = 0.0
    ) -> DeliveryResult:
        """Retry after the schedule's next pause (or the receiver's ``Retry-After``, if
        longer); give up once the schedule is spent."""
        delays = self.settings.webhook_retry_delays_s
        if delivery.attempts > len(delays):
            return DeliveryResult(False, status, error + " (no attempts left)")
        return DeliveryResult(False, status, error, max(delays[delivery.attempts - 1], after))


def _retry_after(value: str | None) -> float:
    """A ``Retry-After`` in seconds (the date form is ignored), capped."""
    if value is None or not value.strip().isdigit():
        return 0.0
    return min(float(value.strip()), _MAX_RETRY_AFTER_S)
