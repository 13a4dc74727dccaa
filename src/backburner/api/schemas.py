"""Request and response bodies: `JobCreate`, `JobPublic`, `JobList`, `JobBatch`."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..jobs import Job, Webhook
from ..submissions import MAX_PRIORITY

__all__ = ["JobBatch", "JobCreate", "JobList", "JobPublic"]

#: A job as the API shows it: the same fields as in Python.
JobPublic = Job


class JobCreate(BaseModel):
    """``POST /v1/jobs``. Unknown fields (``owner``, ``status``, ``attempt`` …) are refused."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(min_length=1, max_length=200)
    input: Any = None
    scope: str | None = None
    dedupe_key: str | None = None
    priority: int = Field(default=0, ge=-MAX_PRIORITY, le=MAX_PRIORITY)
    #: ``"succeeded"``: with a dedupe key, return a succeeded job for it instead of a new one.
    reuse: Literal["succeeded"] | None = None
    #: Where to POST the job's status changes (API keys only, not browser tokens).
    webhook: Webhook | None = None


class JobList(BaseModel):
    """A page of jobs, newest first; pass ``next_cursor`` as ``cursor`` for the next."""

    jobs: list[JobPublic]
    next_cursor: str | None


class JobBatch(BaseModel):
    """``POST /v1/jobs/batch``: the status of up to 100 jobs in one query."""

    model_config = ConfigDict(extra="forbid")

    ids: list[str] = Field(min_length=1, max_length=100)
