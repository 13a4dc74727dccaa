"""Standard Webhooks signatures: ``v1,`` + base64 HMAC-SHA256 of ``id.timestamp.body``.

The secret is ``whsec_`` + base64 of the key bytes, as the spec (and Svix) write it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

__all__ = ["SECRET_PREFIX", "WebhookVerificationError", "derive_secret", "sign", "verify"]

SECRET_PREFIX = "whsec_"
#: How far a delivery's timestamp may be from the receiver's clock (replay protection).
DEFAULT_TOLERANCE_S = 300


class WebhookVerificationError(Exception):
    """The delivery is not authentic: a header is missing or malformed, the timestamp is
    outside the tolerance, or no signature matches."""


def derive_secret(master: str, owner: str) -> str:
    """The owner's signing secret, derived from the server's master secret (so no table of
    secrets: every node computes the same one)."""
    key = hmac.new(master.encode(), b"webhook-signing:" + owner.encode(), hashlib.sha256)
    return SECRET_PREFIX + base64.b64encode(key.digest()).decode()


def _key(secret: str | bytes) -> bytes:
    if isinstance(secret, bytes):
        key = secret
    else:
        text = secret.removeprefix(SECRET_PREFIX)
        try:
            key = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("secret: not a whsec_… base64 secret") from exc
    if not key:
        raise ValueError("secret: must not be empty")
    return key


def sign(secret: str | bytes, msg_id: str, timestamp: int, body: str | bytes) -> str:
    """The ``webhook-signature`` header value for one delivery."""
    data = body.encode() if isinstance(body, str) else body
    signed = f"{msg_id}.{timestamp}.".encode() + data
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(
    body: str | bytes,
    headers: Mapping[str, str],
    secret: str | bytes,
    *,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> Any:
    """Check a delivery's signature and timestamp; return its parsed JSON body.

    Pass the raw request body (not re-serialized JSON) and its headers. Raises
    `WebhookVerificationError` when the delivery is not authentic.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    msg_id = lowered.get("webhook-id")
    stamp = lowered.get("webhook-timestamp")
    signatures = lowered.get("webhook-signature")
    if not (msg_id and stamp and signatures):
        raise WebhookVerificationError("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp: not whole seconds") from None
    clock = time.time() if now is None else now
    if abs(clock - timestamp) > tolerance_s:
        raise WebhookVerificationError("webhook-timestamp: outside the tolerance (replayed?)")
    expected = sign(secret, msg_id, timestamp, body).encode()
    for candidate in signatures.split():
        if candidate.startswith("v1,") and hmac.compare_digest(candidate.encode(), expected):
            data = body.decode() if isinstance(body, bytes) else body
            return json.loads(data)
    raise WebhookVerificationError("no matching signature")
