"""Job ids sort by creation time, even within one millisecond."""

from __future__ import annotations

import uuid

from backburner.ids import new_job_id, new_token


def test_ids_are_uuid7_and_strictly_increasing() -> None:
    ids = [new_job_id() for _ in range(10_000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert all(uuid.UUID(i).version == 7 for i in ids[:10])


def test_tokens_are_unique() -> None:
    assert len({new_token() for _ in range(1000)}) == 1000
