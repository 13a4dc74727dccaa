"""Backoff: exponential, capped, jittered within bounds."""

from __future__ import annotations

import random

import backburner as bb
from backburner.retry import backoff


def test_doubles_without_jitter_and_caps() -> None:
    policy = bb.RetryPolicy(base_s=1, factor=2, max_s=10, jitter=0)
    assert [backoff(policy, n) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]


def test_jitter_stays_within_the_spread() -> None:
    policy = bb.RetryPolicy(base_s=4, jitter=0.5)
    rng = random.Random(7)
    delays = [backoff(policy, 1, rng) for _ in range(500)]
    assert all(2.0 <= d <= 4.0 for d in delays)
    assert max(delays) - min(delays) > 1.5  # actually spread, not constant


def test_policy_from_duration_or_none() -> None:
    assert bb.RetryPolicy.of("5s").base_s == 5
    assert bb.RetryPolicy.of(None) == bb.RetryPolicy()
    custom = bb.RetryPolicy(base_s=3)
    assert bb.RetryPolicy.of(custom) is custom
