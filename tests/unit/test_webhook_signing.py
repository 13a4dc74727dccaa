"""Standard Webhooks signatures: the spec's own vector, and every way verification refuses."""

from __future__ import annotations

import json
import time

import pytest

from backburner.webhooks import WebhookVerificationError, sign, verify
from backburner.webhooks.signing import derive_secret

# The test vector published with the Standard Webhooks reference libraries.
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
BODY = '{"test": 2432232314}'


def headers(timestamp: int, signature: str | None = None) -> dict[str, str]:
    return {
        "Webhook-Id": MSG_ID,
        "Webhook-Timestamp": str(timestamp),
        "Webhook-Signature": signature or sign(SECRET, MSG_ID, timestamp, BODY),
    }


def test_sign_matches_the_spec_vector() -> None:
    expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert sign(SECRET, MSG_ID, 1614265330, BODY) == expected
    assert sign(SECRET.removeprefix("whsec_"), MSG_ID, 1614265330, BODY.encode()) == expected


def test_verify_returns_the_parsed_body_whatever_the_header_case() -> None:
    now = int(time.time())
    assert verify(BODY, headers(now), SECRET) == {"test": 2432232314}
    assert verify(BODY.encode(), headers(now), SECRET) == json.loads(BODY)


def test_one_matching_signature_among_several_is_enough() -> None:
    now = int(time.time())
    good = sign(SECRET, MSG_ID, now, BODY)
    several = f"v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v2,{good[3:]} {good}"
    assert verify(BODY, headers(now, several), SECRET) == {"test": 2432232314}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda h: h.pop("Webhook-Id"), "missing"),
        (lambda h: h.pop("Webhook-Timestamp"), "missing"),
        (lambda h: h.pop("Webhook-Signature"), "missing"),
        (lambda h: h.update({"Webhook-Timestamp": "soon"}), "whole seconds"),
        (lambda h: h.update({"Webhook-Signature": "v1,AAAA"}), "no matching"),
        (lambda h: h.update({"Webhook-Signature": "v2," + h["Webhook-Signature"][3:]}), "no match"),
        (lambda h: h.update({"Webhook-Id": "msg_other"}), "no matching"),
    ],
)
def test_verify_refuses_tampered_or_incomplete_headers(change: object, message: str) -> None:
    sent = headers(int(time.time()))
    change(sent)  # type: ignore[operator]
    with pytest.raises(WebhookVerificationError, match=message):
        verify(BODY, sent, SECRET)


def test_verify_refuses_a_changed_body_and_another_secret() -> None:
    sent = headers(int(time.time()))
    with pytest.raises(WebhookVerificationError):
        verify('{"test": 2432232315}', sent, SECRET)
    with pytest.raises(WebhookVerificationError):
        verify(BODY, sent, derive_secret("master", "alice"))


@pytest.mark.parametrize("skew", [-301, 301])
def test_verify_refuses_timestamps_outside_the_tolerance(skew: int) -> None:
    now = int(time.time())
    with pytest.raises(WebhookVerificationError, match="tolerance"):
        verify(BODY, headers(now + skew), SECRET)
    assert verify(BODY, headers(now + skew), SECRET, tolerance_s=400) == {"test": 2432232314}


def test_derived_secrets_differ_per_owner_and_per_master() -> None:
    alice = derive_secret("master", "alice")
    assert alice == derive_secret("master", "alice")
    assert alice.startswith("whsec_")
    assert alice not in {derive_secret("master", "bob"), derive_secret("other", "alice")}


def test_a_malformed_secret_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="whsec_"):
        sign("whsec_not base64!", MSG_ID, 1, BODY)
    with pytest.raises(ValueError, match="empty"):
        sign("whsec_", MSG_ID, 1, BODY)
