"""Durations: the forms users write, and clear errors for the rest."""

from __future__ import annotations

import pytest

import backburner as bb


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (90, 90.0),
        (1.5, 1.5),
        ("90s", 90.0),
        ("10m", 600.0),
        ("24h", 86400.0),
        ("1d", 86400.0),
        ("500ms", 0.5),
        ("1h30m", 5400.0),
        (" 2m ", 120.0),
        ("2.5", 2.5),
        ("0", 0.0),
    ],
)
def test_parses_user_forms(value: float | str, seconds: float) -> None:
    assert bb.parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["", "abc", "10 minutes", "5x", "-3s", "1h 30m", "s", -1, "nan"])
def test_rejects_garbage_naming_the_field(value: object) -> None:
    with pytest.raises(bb.InvalidDuration, match="timeout"):
        bb.parse_duration(value, field="timeout")  # type: ignore[arg-type]


def test_rejects_bool_and_other_types() -> None:
    with pytest.raises(bb.InvalidDuration):
        bb.parse_duration(True)
    with pytest.raises(bb.InvalidDuration):
        bb.parse_duration([1])  # type: ignore[arg-type]
