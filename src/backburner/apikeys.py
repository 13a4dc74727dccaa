"""API keys: how they look, how they are hashed. Only hashes are ever stored.

A key is ``bb_<id>_<secret>``: the id is public (listings, revoking), the secret is 32
random bytes. Keys are random, not passwords, so one SHA-256 is the right hash: looking a key
up by its hash leaks nothing, and no slow hash is needed against guessing.
"""

from __future__ import annotations

import hashlib
import secrets

__all__ = ["hash_key", "new_key"]


def new_key() -> tuple[str, str]:
    """A fresh ``(key_id, key)``; show the key once, store only `hash_key` of it."""
    key_id = secrets.token_hex(6)
    return key_id, f"bb_{key_id}_{secrets.token_urlsafe(32)}"


def hash_key(key: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
