"""Browser tokens are pure: minted and read with an explicit clock, no database."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from backburner.tokens import PREFIX, InvalidToken, is_token, mint_token, read_token

SECRET = "s3cret"
NOW = 1_700_000_000.5


def test_a_token_reads_back_as_its_owner_and_scope() -> None:
    token = mint_token(SECRET, "alice", "chat-1", 60, NOW)
    assert token.startswith(PREFIX) and is_token(token)
    assert read_token(SECRET, token, NOW) == ("alice", "chat-1")
    assert read_token(SECRET, mint_token(SECRET, "bob", None, 60, NOW), NOW) == ("bob", None)


def test_a_token_expires_after_its_ttl() -> None:
    token = mint_token(SECRET, "alice", None, 60, NOW)
    assert read_token(SECRET, token, NOW + 59) == ("alice", None)
    with pytest.raises(InvalidToken, match="token expired"):
        read_token(SECRET, token, NOW + 60)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # the signature
        lambda t: t.replace(PREFIX, PREFIX + "x", 1),  # the payload
        lambda t: t.partition(".")[0],  # no signature
        lambda t: "bbt_",
        lambda t: "bb_abc_def",  # an API key is not a token
    ],
)
def test_a_tampered_token_is_refused(tamper: Callable[[str], str]) -> None:
    token = mint_token(SECRET, "alice", None, 60, NOW)
    with pytest.raises(InvalidToken):
        read_token(SECRET, tamper(token), NOW)


def test_another_secret_does_not_verify_a_token() -> None:
    token = mint_token(SECRET, "alice", None, 60, NOW)
    with pytest.raises(InvalidToken, match="signature"):
        read_token("another", token, NOW)


def test_a_forged_payload_with_a_valid_looking_shape_is_refused() -> None:
    alice = mint_token(SECRET, "alice", None, 60, NOW)
    bob = mint_token(SECRET, "bob", None, 60, NOW)
    forged = bob.partition(".")[0] + "." + alice.partition(".")[2]
    with pytest.raises(InvalidToken, match="signature"):
        read_token(SECRET, forged, NOW)
