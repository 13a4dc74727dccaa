"""Retry timing: exponential backoff with jitter, capped. Pure functions."""

from __future__ import annotations

import random
from dataclasses import dataclass

from .durations import Duration, parse_duration

__all__ = ["RetryPolicy", "backoff"]


@dataclass(frozen=True)
class RetryPolicy:
    """How long to wait before attempt ``n + 1`` after attempt ``n`` failed.

    The delay doubles from ``base_s`` up to ``max_s``; ``jitter`` spreads retries so a
    provider outage does not bring every job back at the same instant.

    ```python
    @app.task(attempts=5, backoff=bb.RetryPolicy(base_s=2, max_s=120))
    ```
    """

    #: Delay after the first failed attempt, before jitter.
    base_s: float = 1.0
    #: Multiplier per further attempt.
    factor: float = 2.0
    #: Upper bound of the delay, before jitter.
    max_s: float = 300.0
    #: Fraction of the delay that is randomised (0 = none, 1 = anywhere in 0..delay).
    jitter: float = 0.5

    @classmethod
    def of(cls, value: RetryPolicy | Duration | None) -> RetryPolicy:
        """A policy from a policy, a base duration (``"5s"``), or ``None`` for the default."""
        if value is None:
            return cls()
        if isinstance(value, RetryPolicy):
            return value
        return cls(base_s=parse_duration(value, field="backoff"))


def backoff(policy: RetryPolicy, attempt: int, rng: random.Random | None = None) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
    exponent = max(attempt, 1) - 1
    delay = min(policy.max_s, policy.base_s * policy.factor**exponent)
    spread = delay * min(max(policy.jitter, 0.0), 1.0)
    return delay - spread + (rng or random).random() * spread
