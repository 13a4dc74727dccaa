"""Internal: a submit's arguments checked and turned into the `NewJob` the storage inserts.

Every check names the field that is wrong; nothing here touches the database (the webhook's
host is resolved, to refuse private addresses before anything is stored).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from .config import Settings
from .errors import InputValidationError, InvalidInput
from .ids import new_job_id
from .jobs import ACTIVE_STATUSES, JobStatus, Webhook
from .kinds import Registry, describe_validation_error
from .storage import NewJob
from .webhooks.addresses import AddressRefused, Allowance, resolve_allowed

__all__ = ["MAX_PRIORITY", "build_new_job", "check_text", "checked_webhook", "statuses"]

#: Priorities run from -MAX_PRIORITY to MAX_PRIORITY (higher first).
MAX_PRIORITY = 1_000_000

_LIMITS = {"owner": 200, "scope": 200, "dedupe_key": 400, "idempotency_key": 200}


def check_text(field: str, value: str | None, *, required: bool) -> None:
    """`InvalidInput` unless ``value`` is a non-empty string within the field's limit."""
    if value is None and not required:
        return
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{field}: must be a non-empty string, got {value!r}")
    if len(value) > _LIMITS[field]:
        raise InvalidInput(f"{field}: at most {_LIMITS[field]} characters, got {len(value)}")
    if "\x00" in value:
        raise InvalidInput(f"{field}: must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(f"{field}: holds an unpaired surrogate, not valid Unicode") from None


def build_new_job(
    kinds: Registry,
    settings: Settings,
    kind_name: str,
    input: Any,
    *,
    owner: str,
    scope: str | None,
    dedupe_key: str | None,
    priority: int,
    reuse: str | None,
    idempotency_key: str | None,
) -> NewJob:
    """The job to insert, every argument checked (`InvalidInput` naming the field)."""
    kind = kinds.get(kind_name)
    for field, value in (("owner", owner), ("scope", scope), ("dedupe_key", dedupe_key)):
        check_text(field, value, required=field == "owner")
    check_text("idempotency_key", idempotency_key, required=False)
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise InvalidInput(f"priority: must be a whole number, got {priority!r}")
    if abs(priority) > MAX_PRIORITY:
        raise InvalidInput(f"priority: must be from -{MAX_PRIORITY:,} to {MAX_PRIORITY:,}")
    if reuse not in (None, "succeeded"):
        raise InvalidInput(f"reuse: must be 'succeeded' or None, got {reuse!r}")
    if reuse is not None and dedupe_key is None:
        raise InvalidInput("reuse: needs a dedupe_key to find the job to reuse")
    stored = kind.validate_input(input, max_bytes=settings.max_input_bytes)
    policy = kind.policy
    return NewJob(
        id=new_job_id(),
        kind=kind.name,
        owner=owner,
        scope=scope,
        input=stored,
        dedupe_key=dedupe_key,
        priority=priority,
        cost=kind.cost_of(stored),
        refundable=policy.refund,
        max_queued=settings.owner_max_queued,
        submit_rate=settings.submit_rate,
        max_attempts=policy.attempts,
        slow_after_s=policy.slow_after_s,
        expire_after_s=policy.expire_after_s,
        reuse_succeeded=reuse == "succeeded",
        idempotency_key=idempotency_key,
    )


async def checked_webhook(
    webhook: Webhook | Mapping[str, Any] | None, settings: Settings
) -> Webhook | None:
    """The webhook, well-formed and aimed at an allowed address, or `InputValidationError`."""
    if webhook is None:
        return None
    try:
        spec = webhook if isinstance(webhook, Webhook) else Webhook.model_validate(webhook)
    except ValidationError as exc:
        errors = [
            {**e, "loc": ("webhook", *e["loc"])}
            for e in exc.errors(include_url=False, include_context=False)
        ]
        raise InputValidationError(f"webhook: {describe_validation_error(exc)}", errors) from None
    try:
        await resolve_allowed(spec.url, Allowance(settings.webhook_allow))
    except AddressRefused as exc:
        error = {"loc": ("webhook", "url"), "msg": str(exc), "type": "webhook_url"}
        raise InputValidationError(f"webhook.url: {exc}", [error]) from None
    return spec


def statuses(
    status: JobStatus | str | Iterable[JobStatus | str] | None, active: bool | None
) -> tuple[JobStatus, ...] | None:
    """The statuses to match: from ``status`` and/or ``active``; `InvalidInput` if unknown."""
    chosen: set[JobStatus] | None = None
    if status is not None:
        values = [status] if isinstance(status, str) else list(status)
        try:
            chosen = {JobStatus(v) for v in values}
        except ValueError:
            known = ", ".join(s.value for s in JobStatus)
            raise InvalidInput(f"status: unknown status in {values!r} (known: {known})") from None
    if active is not None:
        wanted = set(ACTIVE_STATUSES) if active else set(JobStatus) - ACTIVE_STATUSES
        chosen = wanted if chosen is None else chosen & wanted
    return None if chosen is None else tuple(sorted(chosen))
