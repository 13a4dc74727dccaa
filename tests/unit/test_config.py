"""Settings: environment variables, durations, and errors that name the variable."""

from __future__ import annotations

import pytest

import backburner as bb


def test_defaults_are_the_production_ones() -> None:
    s = bb.Settings.from_env({})
    assert s.database_url == "sqlite:///backburner.db"
    assert (s.lease_s, s.concurrency, s.max_input_bytes) == (30.0, 50, 1024 * 1024)
    assert s.sqlite_synchronous == "FULL"
    assert s.maintenance_interval_s == 10.0


def test_reads_the_environment_with_durations() -> None:
    env = {"BACKBURNER_LEASE": "3s", "BACKBURNER_CONCURRENCY": "7", "BACKBURNER_RETENTION": "2d"}
    s = bb.Settings.from_env(env)
    assert (s.lease_s, s.concurrency, s.retention_s) == (3.0, 7, 172800.0)


def test_overrides_win_and_none_is_ignored() -> None:
    s = bb.Settings.from_env({"BACKBURNER_LEASE": "3s"}, lease_s="9s", concurrency=None)
    assert (s.lease_s, s.concurrency) == (9.0, 50)


def test_bad_duration_names_the_variable() -> None:
    with pytest.raises(bb.InvalidDuration, match="BACKBURNER_LEASE"):
        bb.Settings.from_env({"BACKBURNER_LEASE": "abc"})


@pytest.mark.parametrize("url", ["mysql://x/y", "postgres+foo://h/db", "backburner.db", "redis://"])
def test_unknown_database_scheme(url: str) -> None:
    with pytest.raises(bb.UnsupportedDatabase, match="unsupported scheme"):
        bb.Settings.from_env({"BACKBURNER_DATABASE_URL": url})


def test_out_of_range_values_raise_config_error() -> None:
    with pytest.raises(bb.ConfigError, match="BACKBURNER_CONCURRENCY"):
        bb.Settings.from_env({"BACKBURNER_CONCURRENCY": "0"})
    with pytest.raises(bb.ConfigError, match="BACKBURNER_SQLITE_SYNCHRONOUS"):
        bb.Settings.from_env({"BACKBURNER_SQLITE_SYNCHRONOUS": "OFF"})


def test_in_memory_sqlite_is_refused(tmp_path: object) -> None:
    from backburner.storage import create_storage

    with pytest.raises(bb.ConfigError, match="must name a file"):
        create_storage(bb.Settings(database_url="sqlite:///:memory:"))
