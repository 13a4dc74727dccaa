"""Durations as users write them: ``90``, ``1.5``, ``"90s"``, ``"10m"``, ``"24h"``, ``"1h30m"``."""

from __future__ import annotations

import math
import re

from .errors import ConfigError, InvalidDuration

__all__ = ["Duration", "parse_duration", "parse_rate"]

#: What a duration may be given as: seconds, or a string with units.
Duration = float | int | str

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")


def parse_duration(value: Duration, *, field: str = "duration") -> float:
    """Return ``value`` in seconds, or raise `InvalidDuration` naming ``field``.

    >>> parse_duration("1h30m")
    5400.0
    """
    if isinstance(value, bool):
        raise InvalidDuration(f"{field}: expected a duration, got {value!r}")
    if isinstance(value, int | float):
        return _checked(float(value), value, field)
    if not isinstance(value, str):
        raise InvalidDuration(f"{field}: expected a duration, got {type(value).__name__}")
    text = value.strip().lower()
    try:
        return _checked(float(text), value, field)
    except ValueError:
        pass
    parts = _PART.findall(text)
    if not text or "".join(n + u for n, u in parts) != text:
        raise InvalidDuration(
            f"{field}: {value!r} is not a duration; use seconds or a string like "
            "'500ms', '90s', '10m', '24h', '1d', '1h30m'"
        )
    return _checked(sum(float(n) * _UNITS[u] for n, u in parts), value, field)


def _checked(seconds: float, original: object, field: str) -> float:
    if math.isnan(seconds) or math.isinf(seconds) or seconds < 0:
        raise InvalidDuration(f"{field}: {original!r} must be a finite, non-negative duration")
    return seconds


_RATE = re.compile(r"^\s*(\d+)\s*/\s*(s|m|h)\s*$")


def parse_rate(value: str, *, field: str = "rate") -> tuple[int, float]:
    """``"60/m"`` → ``(60, 60.0)``: so many per period; `ConfigError` naming ``field`` otherwise."""
    match = _RATE.match(value)
    if match is None or int(match.group(1)) < 1:
        raise ConfigError(f"{field}: {value!r} is not a rate; use e.g. '10/s', '60/m', '1000/h'")
    return int(match.group(1)), _UNITS[match.group(2)]
