"""Per-owner submission rate limits: a token bucket per owner, in this API process.

With several API nodes each enforces the limit on its own share of the traffic, so the
overall limit is the per-node limit times the nodes a client's requests reach.
"""

from __future__ import annotations

import math
import time

from .errors import ApiError

__all__ = ["RateLimiter"]

_MAX_OWNERS = 100_000  # forget the oldest buckets past this, so memory stays bounded


class RateLimiter:
    """``allow(owner)`` raises a 429 `ApiError` with ``Retry-After`` when over the rate."""

    def __init__(self, count: int, period_s: float) -> None:
        self._capacity = float(count)
        self._per_s = count / period_s
        self._buckets: dict[str, tuple[float, float]] = {}  # owner → (tokens, at)

    def allow(self, owner: str) -> None:
        now = time.monotonic()
        tokens, at = self._buckets.pop(owner, (self._capacity, now))
        tokens = min(self._capacity, tokens + (now - at) * self._per_s)
        if tokens < 1:
            self._buckets[owner] = (tokens, now)
            wait_s = math.ceil((1 - tokens) / self._per_s)
            raise ApiError(
                429,
                "rate-limited",
                "Too many requests",
                f"owner {owner!r} is over the submission rate limit; retry in {wait_s} s",
                {"Retry-After": str(wait_s)},
            )
        self._buckets[owner] = (tokens - 1, now)  # re-inserted last: dict order is recency
        if len(self._buckets) > _MAX_OWNERS:
            del self._buckets[next(iter(self._buckets))]
