"""Kinds: a handler, its input and output models, and its policy; the registry of them."""

from __future__ import annotations

import inspect
import json
import math
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from .durations import Duration, parse_duration
from .errors import (
    InputNotSerializable,
    InputTooLarge,
    InputValidationError,
    UnknownKind,
)
from .retry import RetryPolicy

__all__ = ["Handler", "Kind", "KindPolicy", "Registry", "describe_validation_error"]

#: A handler: ``async def fn(ctx, input) -> output`` (or a plain ``def``, run in a thread).
Handler = Callable[..., Any]


@dataclass(frozen=True)
class KindPolicy:
    """How jobs of one kind are run; every duration in seconds."""

    #: Longest one attempt may run; ``None`` for no limit.
    timeout_s: float | None = None
    #: Tries before the job fails (crashes of the worker do not count).
    attempts: int = 3
    backoff: RetryPolicy = field(default_factory=RetryPolicy)
    #: After this age an active job counts as slow.
    slow_after_s: float = 600.0
    #: After this age an unfinished job fails with error type ``expired``.
    expire_after_s: float = 86400.0
    #: Most jobs of this kind running at once, across every worker (a provider that allows
    #: 4 video generations at a time: 4); ``None``: only the workers' own limits.
    concurrency: int | None = None
    #: Most jobs of this kind one owner has running at once, across every worker.
    owner_concurrency: int | None = None
    #: Credits a job costs (see `backburner.ledger`): a number, or a function of the
    #: validated input (``lambda script: len(script.scenes)``).
    cost: float | Callable[[Any], float] = 0
    #: Give the charge back when a job ends without success (failed, expired or canceled).
    refund: bool = True

    @classmethod
    def build(
        cls,
        *,
        timeout: Duration | None = None,
        attempts: int = 3,
        backoff: RetryPolicy | Duration | None = None,
        slow_after: Duration = "10m",
        expire_after: Duration = "24h",
        concurrency: int | None = None,
        owner_concurrency: int | None = None,
        cost: float | Callable[[Any], float] = 0,
        refund: bool = True,
    ) -> KindPolicy:
        """A policy from user-facing values, raising `ConfigError` naming the bad one."""
        from .errors import ConfigError

        if not isinstance(attempts, int) or attempts < 1:
            raise ConfigError(f"attempts: must be a whole number ≥ 1, got {attempts!r}")
        for name, value in (("concurrency", concurrency), ("owner_concurrency", owner_concurrency)):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise ConfigError(f"{name}: must be a whole number ≥ 1, got {value!r}")
        if not callable(cost):
            cost = _checked_cost(cost, "cost")
        if not isinstance(refund, bool):
            raise ConfigError(f"refund: must be True or False, got {refund!r}")
        return cls(
            timeout_s=None if timeout is None else parse_duration(timeout, field="timeout"),
            attempts=attempts,
            backoff=RetryPolicy.of(backoff),
            slow_after_s=parse_duration(slow_after, field="slow_after"),
            expire_after_s=parse_duration(expire_after, field="expire_after"),
            concurrency=concurrency,
            owner_concurrency=owner_concurrency,
            cost=cost,
            refund=refund,
        )


@dataclass(frozen=True)
class Kind:
    """A registered kind: what routes a job to its handler."""

    name: str
    handler: Handler
    policy: KindPolicy
    input_adapter: TypeAdapter[Any]
    output_adapter: TypeAdapter[Any] | None
    is_async: bool

    @classmethod
    def from_handler(cls, name: str, handler: Handler, policy: KindPolicy) -> Kind:
        """Read the input and output models from the handler's annotations."""
        params = list(inspect.signature(handler).parameters.values())
        if len(params) != 2:
            raise TypeError(f"handler {name!r} must take (ctx, input), not {len(params)} arguments")
        hints = typing.get_type_hints(handler)
        input_type = hints.get(params[1].name, Any)
        output_type = hints.get("return", Any)
        return cls(
            name=name,
            handler=handler,
            policy=policy,
            input_adapter=TypeAdapter(input_type),
            output_adapter=None if output_type is type(None) else TypeAdapter(output_type),
            is_async=inspect.iscoroutinefunction(handler),
        )

    def validate_input(self, value: Any, *, max_bytes: int) -> Any:
        """The input as stored (plain JSON), or `InvalidInput` saying which field is wrong."""
        if isinstance(value, BaseModel):
            value = value.model_dump(mode="json")
        _ensure_json(value, "input")
        try:
            model = self.input_adapter.validate_python(value)
        except ValidationError as exc:
            raise InputValidationError(
                f"invalid input for kind {self.name!r}: {describe_validation_error(exc)}",
                [dict(e) for e in exc.errors(include_url=False, include_context=False)],
            ) from None
        stored = self.input_adapter.dump_python(model, mode="json")
        size = len(json.dumps(stored, separators=(",", ":")).encode())
        if size > max_bytes:
            raise InputTooLarge(f"input: {size} bytes is over the limit of {max_bytes} bytes")
        return stored

    def cost_of(self, stored: Any) -> float:
        """What a job with this (validated, stored) input costs, in credits."""
        cost = self.policy.cost
        if not callable(cost):
            return cost
        return _checked_cost(cost(self.load_input(stored)), f"cost of kind {self.name!r}")

    def load_input(self, stored: Any) -> Any:
        """The handler's argument (e.g. the pydantic model) from the stored input."""
        return self.input_adapter.validate_python(stored)

    def dump_output(self, value: Any) -> Any:
        """The handler's return value as stored JSON; raises `ValidationError` when invalid."""
        if self.output_adapter is None:
            return None
        model = self.output_adapter.validate_python(value)
        return self.output_adapter.dump_python(model, mode="json")

    def describe(self) -> dict[str, Any]:
        """Name, input and output JSON schemas and policy, as ``GET /v1/kinds`` shows them."""
        p = self.policy
        return {
            "name": self.name,
            "input_schema": self.input_adapter.json_schema(),
            "output_schema": self.output_adapter.json_schema() if self.output_adapter else None,
            "policy": {
                "timeout_s": p.timeout_s,
                "attempts": p.attempts,
                "slow_after_s": p.slow_after_s,
                "expire_after_s": p.expire_after_s,
                "concurrency": p.concurrency,
                "owner_concurrency": p.owner_concurrency,
                # A cost that depends on the input shows as null: see the job's own `cost`.
                "cost": None if callable(p.cost) else p.cost,
                "refund": p.refund,
            },
        }


def _checked_cost(value: Any, where: str) -> float:
    """A cost as stored: a finite number ≥ 0, whole millionths of a credit at most."""
    from .errors import ConfigError

    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or value < 0 or value > 1e12:
        raise ConfigError(f"{where}: must be a number from 0 to 1e12, got {value!r}")
    return round(float(value), 6)


def describe_validation_error(exc: ValidationError) -> str:
    """``field.path: message`` for each error, joined: readable in a CLI or a 422 body."""
    parts = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(p) for p in error["loc"]) or "input"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


def _ensure_json(value: Any, where: str) -> None:
    try:
        json.dumps(value, allow_nan=False, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise InputNotSerializable(
            f"{where}: holds an unpaired surrogate, which is not valid Unicode"
        ) from None
    except (TypeError, ValueError) as exc:
        raise InputNotSerializable(f"{where}: not JSON-serialisable ({exc})") from None


class Registry:
    """The kinds an app knows, by name."""

    def __init__(self) -> None:
        self._kinds: dict[str, Kind] = {}

    def add(self, kind: Kind) -> None:
        """Register ``kind``; a second kind with the same name is a mistake."""
        if kind.name in self._kinds:
            raise ValueError(f"a kind named {kind.name!r} is already registered")
        self._kinds[kind.name] = kind

    def get(self, name: str) -> Kind:
        """The kind named ``name``, or `UnknownKind` listing the known ones."""
        try:
            return self._kinds[name]
        except KeyError:
            known = ", ".join(sorted(self._kinds)) or "none registered"
            raise UnknownKind(f"kind: unknown kind {name!r} (known: {known})") from None

    def names(self) -> list[str]:
        """Every registered name, sorted."""
        return sorted(self._kinds)

    def __iter__(self) -> Iterator[Kind]:
        return iter(self._kinds.values())

    def __len__(self) -> int:
        return len(self._kinds)
