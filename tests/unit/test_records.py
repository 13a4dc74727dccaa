"""Rows read back as `Job`s: the fast construction is indistinguishable from pydantic's own."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from backburner.jobs import Job
from backburner.storage.records import row_to_job

_NOW = 1_760_000_000.0


def _row(**changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": "01a2-job",
        "kind": "chapter",
        "owner": "alice",
        "scope": "novel:1",
        "status": "running",
        "input": {"entry": "a day"},
        "output": None,
        "error_type": None,
        "error_message": None,
        "progress": 0.25,
        "message": "Crafting…",
        "partial": {"scene": 1},
        "attempt": 1,
        "max_attempts": 3,
        "dedupe_key": None,
        "priority": 0,
        "cost": 1.0,
        "cancel_requested": 0,
        "webhook": None,
        "created_at": _NOW,
        "started_at": _NOW + 1,
        "finished_at": None,
        "updated_at": _NOW + 1,
        "run_at": _NOW,
        "slow_at": _NOW + 600,
        "expire_at": _NOW + 86_400,
    }
    return row | changes


ROWS = [
    _row(),
    _row(status="failed", error_type="timeout", error_message="too slow", finished_at=_NOW + 9),
    _row(status="succeeded", output={"title": "T"}, webhook={"url": "https://x.test/h"}),
    _row(scope=None, message=None, partial=None, dedupe_key="k", cancel_requested=1),
]


@pytest.mark.parametrize("row", ROWS)
def test_a_row_reads_as_pydantic_itself_would_construct_it(row: dict[str, Any]) -> None:
    job = row_to_job(row)  # type: ignore[arg-type]  # a mapping is all it reads
    reference = Job.model_construct(**dict(job))
    assert job == reference
    assert job.model_fields_set == reference.model_fields_set == set(Job.model_fields)
    assert job.model_dump() == reference.model_dump()
    assert job.model_dump_json() == reference.model_dump_json()
    assert (job.slow, job.active, job.finished) == (
        reference.slow,
        reference.active,
        reference.finished,
    )
    assert Job.model_validate_json(job.model_dump_json()) == job
    with pytest.raises(pydantic.ValidationError):
        job.status = "queued"  # type: ignore[misc]  # frozen, as every Job is
