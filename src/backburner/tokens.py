"""Browser tokens: short-lived, signed, acting as one owner (and optionally one scope).

An app backend holding an API key mints a token and hands it to a web page, which can then
watch and act on that owner's jobs without ever holding a secret key::

    token = mint_token(secret, "alice", "chapter-7", ttl_s=900, now=time.time())
    read_token(secret, token, now=time.time())  # ("alice", "chapter-7")

A token is ``bbt_`` + base64url(JSON ``{o, s, e}``) + ``.`` + base64url(HMAC-SHA256 of that
payload). Nothing is stored per token: the secret verifies it, the expiry ends it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime

from .errors import BackburnerError

__all__ = [
    "MAX_TTL_S",
    "PREFIX",
    "SECRET_NAME",
    "BrowserToken",
    "InvalidToken",
    "is_token",
    "mint_token",
    "read_token",
]

#: What every browser token starts with (API keys start with ``bb_``).
PREFIX = "bbt_"
#: The longest a token may live: one day.
MAX_TTL_S = 24 * 60 * 60
#: The name of the signing secret in the database's ``server_secrets`` table.
SECRET_NAME = "browser_tokens"


class InvalidToken(BackburnerError):
    """The browser token is not valid."""


@dataclass(frozen=True)
class BrowserToken:
    """A minted token and what it grants: ``owner``'s jobs (in ``scope``, if set)."""

    token: str
    owner: str
    scope: str | None
    expires_at: datetime


def is_token(credential: str) -> bool:
    """Whether ``credential`` looks like a browser token (rather than an API key)."""
    return credential.startswith(PREFIX)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: str, payload: str) -> str:
    return _b64(hmac.new(secret.encode(), payload.encode("ascii"), hashlib.sha256).digest())


def mint_token(secret: str, owner: str, scope: str | None, ttl_s: int, now: float) -> str:
    """A token for ``owner`` (and ``scope``) that expires ``ttl_s`` seconds after ``now``."""
    claims = {"o": owner, "s": scope, "e": int(now) + ttl_s}
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    return f"{PREFIX}{payload}.{_sign(secret, payload)}"


def read_token(secret: str, token: str, now: float) -> tuple[str, str | None]:
    """``(owner, scope)`` of a valid token; `InvalidToken` saying why when it is not."""
    payload, dot, signature = token.removeprefix(PREFIX).partition(".")
    if not is_token(token) or not dot:
        raise InvalidToken("the token is malformed")
    if not payload.isascii() or not hmac.compare_digest(_sign(secret, payload), signature):
        raise InvalidToken("the token's signature is not valid")
    try:
        claims = json.loads(_unb64(payload))
        owner, scope, expiry = claims["o"], claims["s"], claims["e"]
    except (ValueError, binascii.Error, KeyError, TypeError) as exc:
        raise InvalidToken("the token is malformed") from exc
    if now >= expiry:
        raise InvalidToken("token expired")
    return owner, scope
