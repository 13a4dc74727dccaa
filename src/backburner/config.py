"""Settings: every knob, its ``BACKBURNER_*`` variable, validated once at the edge."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
)

from .durations import parse_duration, parse_rate
from .errors import ConfigError, UnsupportedDatabase

__all__ = ["DEFAULT_DATABASE_URL", "Settings"]

#: The embedded default: a SQLite file in the working directory.
DEFAULT_DATABASE_URL = "sqlite:///backburner.db"

#: Fields given as durations, read with `parse_duration`.
_DURATION_FIELDS = ("lease_s", "poll_interval_s", "grace_s", "retention_s", "maintenance_every_s")

#: Each field's environment variable (durations drop their ``_s`` suffix).
ENV_NAMES: dict[str, str] = {
    "database_url": "BACKBURNER_DATABASE_URL",
    "lease_s": "BACKBURNER_LEASE",
    "concurrency": "BACKBURNER_CONCURRENCY",
    "poll_interval_s": "BACKBURNER_POLL_INTERVAL",
    "grace_s": "BACKBURNER_GRACE",
    "retention_s": "BACKBURNER_RETENTION",
    "maintenance_every_s": "BACKBURNER_MAINTENANCE_EVERY",
    "max_input_bytes": "BACKBURNER_MAX_INPUT_BYTES",
    "sqlite_synchronous": "BACKBURNER_SQLITE_SYNCHRONOUS",
    "busy_timeout_s": "BACKBURNER_BUSY_TIMEOUT",
    "tick_secret": "BACKBURNER_TICK_SECRET",
    "submit_rate_limit": "BACKBURNER_RATE_LIMIT",
    "webhook_allow": "BACKBURNER_WEBHOOK_ALLOW",
    "webhook_retry_delays_s": "BACKBURNER_WEBHOOK_RETRIES",
    "webhook_timeout_s": "BACKBURNER_WEBHOOK_TIMEOUT",
    "cors_origins": "BACKBURNER_CORS_ORIGINS",
    "pool_size": "BACKBURNER_POOL_SIZE",
    "owner_max_running": "BACKBURNER_OWNER_MAX_RUNNING",
    "owner_max_queued": "BACKBURNER_OWNER_MAX_QUEUED",
    "artifacts_dir": "BACKBURNER_ARTIFACTS_DIR",
    "max_artifact_bytes": "BACKBURNER_MAX_ARTIFACT_BYTES",
}

#: URL schemes of the backends (``postgresql+psycopg`` is SQLAlchemy's name for psycopg 3).
SQLITE_SCHEMES = frozenset({"sqlite"})
POSTGRES_SCHEMES = frozenset({"postgresql", "postgres", "postgresql+psycopg"})
#: A PostgreSQL schema name as ``?schema=`` accepts it: unquoted, so it means the same to
#: every tool, and short enough for the notification channel named after it.
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,47}")

#: Standard Webhooks' suggested schedule: 8 attempts over about a day and a half.
DEFAULT_WEBHOOK_RETRIES = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)


class Settings(BaseModel):
    """Validated configuration; build it with `Settings.from_env` or directly.

    ```python
    settings = bb.Settings.from_env(lease_s="5s")   # the environment, with overrides
    app = bb.Backburner(settings=settings)
    ```
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: ``sqlite:///path.db`` (the default) or ``postgresql://user:password@host/db`` (add
    #: ``?schema=name`` to keep backburner's tables in a schema of their own).
    database_url: str = DEFAULT_DATABASE_URL
    #: How long a worker's claim on a running job lasts without a heartbeat.
    lease_s: float = Field(default=30.0, gt=0)
    #: Jobs one worker runs at once.
    concurrency: int = Field(default=50, ge=1, le=10_000)
    #: How often an idle worker looks for new work it was not told about.
    poll_interval_s: float = Field(default=0.002, gt=0)
    #: On SIGTERM, how long in-flight jobs get to finish before they are put back.
    grace_s: float = Field(default=30.0, ge=0)
    #: Finished jobs (and their events and steps) older than this are pruned.
    retention_s: float = Field(default=7 * 86400.0, gt=0)
    #: How often a worker reclaims expired leases, expires old jobs and prunes.
    maintenance_every_s: float = Field(default=0.0, ge=0)
    #: Largest accepted input, as JSON.
    max_input_bytes: int = Field(default=1024 * 1024, ge=1)
    #: ``FULL``: an acknowledged submit survives power loss; ``NORMAL``: faster, may lose
    #: the last transactions on power loss (never on a process crash).
    sqlite_synchronous: Literal["FULL", "NORMAL"] = "FULL"
    #: How long SQLite's own wait for the write lock lasts before our retry loop takes over.
    #: Short on purpose: SQLite's wait re-checks only every 100 ms once it has waited a while.
    busy_timeout_s: float = Field(default=0.01, gt=0)
    #: Enables ``POST /v1/worker/tick`` for callers presenting it (compared in constant time).
    tick_secret: SecretStr | None = None
    #: Most submits per owner in a period, e.g. ``"60/m"``, counted in the database across
    #: every process; over it a submit is refused (`RateLimited`, HTTP 429). Unset: no limit.
    submit_rate_limit: str | None = None
    #: Most jobs one owner has running at once, across every worker; unset: no limit.
    owner_max_running: int | None = Field(default=None, ge=1)
    #: Most jobs one owner may have queued; a submit beyond it is refused (`LimitExceeded`,
    #: HTTP 429) and stores nothing. Unset: no limit.
    owner_max_queued: int | None = Field(default=None, ge=1)
    #: Networks (``10.0.0.0/8``, ``::1``) and host names webhooks may reach although private,
    #: loopback or link-local; comma-separated in the variable. Empty: public addresses only.
    webhook_allow: tuple[str, ...] = ()
    #: Pauses between webhook attempts (``"5s,5m,30m"``); after the last, a delivery fails.
    webhook_retry_delays_s: tuple[float, ...] = Field(
        default=DEFAULT_WEBHOOK_RETRIES, max_length=50
    )
    #: How long one webhook POST may take.
    webhook_timeout_s: float = Field(default=10.0, gt=0, le=300)
    #: Web origins (``https://app.example``) whose pages may call the API from the browser;
    #: comma-separated in the variable, ``*`` for any. Empty: same origin only.
    cors_origins: tuple[str, ...] = ()
    #: PostgreSQL: connections each process keeps for its queries (plus one that listens
    #: for changes, and a worker's heartbeat connection). Not used by SQLite.
    pool_size: int = Field(default=10, ge=1, le=1000)
    #: Where jobs' artifacts are kept (every process that saves or serves them must see it);
    #: unset: beside a SQLite database (``jobs.db`` → ``jobs.artifacts/``), else
    #: ``./backburner-artifacts``.
    artifacts_dir: str | None = None
    #: The largest artifact a handler may save.
    max_artifact_bytes: int = Field(default=100 * 1024 * 1024, ge=1)
    _submit_rate: tuple[int, float] | None = PrivateAttr(default=None)

    @field_validator("submit_rate_limit")
    @classmethod
    def _rate(cls, value: str | None) -> str | None:
        if value is not None:
            parse_rate(value, field="BACKBURNER_RATE_LIMIT")
        return value

    @field_validator("webhook_allow", "cors_origins", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return _split(value)

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, origins: tuple[str, ...]) -> tuple[str, ...]:
        for origin in origins:
            if origin != "*" and not origin.startswith(("http://", "https://")):
                raise ConfigError(
                    f"BACKBURNER_CORS_ORIGINS: {origin!r} is not an origin like https://app.example"
                )
        return tuple(origin.rstrip("/") for origin in origins)

    @field_validator("webhook_retry_delays_s", mode="before")
    @classmethod
    def _retry_delays(cls, value: Any) -> tuple[float, ...]:
        name = ENV_NAMES["webhook_retry_delays_s"]
        return tuple(parse_duration(item, field=name) for item in _split(value))

    @field_validator(*_DURATION_FIELDS, "busy_timeout_s", "webhook_timeout_s", mode="before")
    @classmethod
    def _durations(cls, value: Any, info: Any) -> float:
        return parse_duration(value, field=ENV_NAMES.get(info.field_name, info.field_name))

    @field_validator("database_url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        scheme = value.split(":", 1)[0].lower() if ":" in value else ""
        if scheme not in SQLITE_SCHEMES | POSTGRES_SCHEMES:
            raise UnsupportedDatabase(
                f"BACKBURNER_DATABASE_URL: unsupported scheme {scheme or value!r}; "
                "use sqlite:///path/to/file.db or postgresql://user@host/database"
            )
        if scheme in POSTGRES_SCHEMES:
            _check_schema(value)
        return value

    def model_post_init(self, context: Any, /) -> None:
        # Parsed once here, not at each submit that reads it.
        rate = self.submit_rate_limit
        self._submit_rate = None if rate is None else parse_rate(rate)

    @property
    def submit_rate(self) -> tuple[int, float] | None:
        """``submit_rate_limit`` as (count, period in seconds), or ``None``."""
        return self._submit_rate

    @property
    def maintenance_interval_s(self) -> float:
        """The maintenance period: as configured, else a third of the lease."""
        return self.maintenance_every_s or self.lease_s / 3

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from ``BACKBURNER_*`` variables, then ``overrides`` (``None`` is ignored)."""
        source = os.environ if env is None else env
        values: dict[str, Any] = {
            field: source[name] for field, name in ENV_NAMES.items() if source.get(name)
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls.build(**values)

    @classmethod
    def build(cls, **values: Any) -> Settings:
        """Validate ``values``, raising `ConfigError` (not pydantic's error) naming the field."""
        try:
            return cls(**values)
        except ValidationError as exc:
            cause = _config_cause(exc)
            if cause is not None:
                raise cause from None
            first = exc.errors()[0]
            name = str(first["loc"][0]) if first["loc"] else "settings"
            raise ConfigError(f"{ENV_NAMES.get(name, name)}: {first['msg']}") from None


def _check_schema(url: str) -> None:
    """A PostgreSQL URL's ``?schema=`` must be one plain, lower-case name."""
    names = parse_qs(urlsplit(url).query, keep_blank_values=True).get("schema")
    if names is not None and (len(names) != 1 or not _SCHEMA_NAME.fullmatch(names[0])):
        raise ConfigError(
            f"BACKBURNER_DATABASE_URL: schema={','.join(names)!r} must be one name of lower-case "
            "letters, digits and underscores (at most 48), not starting with a digit"
        )


def _split(value: Any) -> Any:
    """A comma-separated variable as a tuple; anything else as given."""
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    return value


def _config_cause(exc: ValidationError) -> ConfigError | None:
    """The `ConfigError` a validator raised, unwrapped from pydantic's error."""
    for error in exc.errors():
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, ConfigError):
            return cause
    return None
