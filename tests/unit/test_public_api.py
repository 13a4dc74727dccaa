"""The public surface is explicit and sorted; the schema's head is the code's head."""

from __future__ import annotations

from pathlib import Path

import backburner as bb
from backburner.storage import migrate


def test_all_is_sorted_and_complete() -> None:
    assert list(bb.__all__) == sorted(bb.__all__)
    for name in bb.__all__:
        assert hasattr(bb, name), name


def test_public_names_have_docstrings() -> None:
    for name in bb.__all__:
        obj = getattr(bb, name)
        if callable(obj):
            assert obj.__doc__, f"{name} has no docstring"


def test_error_types_are_the_documented_closed_set() -> None:
    assert {e.value for e in bb.ErrorType} == {
        "handler_error", "timeout", "worker_lost", "expired", "provider_error", "invalid_output",
    }  # fmt: skip
    doc = (Path(__file__).parents[2] / "docs" / "errors.md").read_text()
    for error_type in bb.ErrorType:
        assert f"`{error_type.value}`" in doc


def test_head_revision_matches_alembic() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(Path(migrate.__file__).parent / "migrations"))
    assert ScriptDirectory.from_config(config).get_current_head() == migrate.HEAD_REVISION
