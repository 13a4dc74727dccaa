"""CLI command ``demo``: the seed apps on a fake AI provider, with the dashboard. Registered on
`cli.cli`.

```
backburner demo                       # from the repository root: examples.seeds:app
backburner demo --provider openai     # a real OpenAI-compatible service (OPENAI_*)
```

It starts the fake provider on a thread (or, with ``--provider openai``, checks the
``OPENAI_*`` variables and starts none), loads the app on ``./demo.db`` (recreated each run)
or ``--database``, makes a demo owner with an API key, credits and a day-long browser
token, submits the app module's ``DEMO_SAMPLES`` (``(kind, input, submit options)``
tuples), and serves the API with a worker inside on 127.0.0.1 until Ctrl-C, SIGTERM or
``--exit-after`` seconds. It prints the dashboard's URL with the token, and the operator's
with an admin key.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .app import Backburner
from .cli import LogLevel, _configure_logging, cli, fail, run_main
from .cli_backend import make_app
from .errors import ConfigError
from .sockets import listen_socket

if TYPE_CHECKING:
    import uvicorn

__all__ = ["DEMO_APP", "DEMO_OWNER", "demo"]

#: The app the demo serves unless ``--app`` names another.
DEMO_APP = "examples.seeds:app"
#: The owner the dashboard signs in as.
DEMO_OWNER = "demo"
#: The owner of the operator's admin key.
OPERATOR = "operator"
#: The variable that points the example app's providers at the fake (examples/seeds/providers.py).
PROVIDER_URL_ENV = "BACKBURNER_DEMO_PROVIDER_URL"
DEFAULT_DATABASE = Path("demo.db")
HOST = "127.0.0.1"
#: Credits the demo owner starts with: enough for every sample and some clicking around.
CREDITS = 100
#: A day: the longest a browser token may live.
TOKEN_TTL_S = 24 * 60 * 60
#: The fake's faults: enough to show retries, rarely enough that most jobs succeed.
FAKE_KNOBS: dict[str, Any] = {
    "seed": 7,
    "rate_limit_rate": 0.03,
    "invalid_json_rate": 0.15,
    "prediction_failure_rate": 0.1,
    "prediction_steps": 5,
    "retry_after_s": 1.0,
}


class ProviderChoice(StrEnum):
    """Where the demo's AI calls go."""

    FAKE = "fake"
    OPENAI = "openai"


@dataclass(frozen=True)
class Access:
    """What the demo prints: who may do what, and where."""

    key: str
    admin_key: str
    token: str
    submitted: int


@cli.command()
def demo(
    port: Annotated[
        int, typer.Option(envvar="BACKBURNER_DEMO_PORT", min=0, help="TCP port (0: any free one)")
    ] = 8000,
    database: Annotated[
        str | None,
        typer.Option(
            envvar="BACKBURNER_DEMO_DATABASE",
            help="a SQLite file or a database URL (default ./demo.db, recreated each run)",
        ),
    ] = None,
    app_path: Annotated[
        str,
        typer.Option(
            "--app", envvar="BACKBURNER_DEMO_APP", metavar="MODULE:ATTR", help="the app to serve"
        ),
    ] = DEMO_APP,
    provider: Annotated[
        ProviderChoice,
        typer.Option(
            envvar="BACKBURNER_DEMO_PROVIDER",
            help="fake: a fake AI provider on a thread; openai: OPENAI_BASE_URL, "
            "OPENAI_API_KEY, OPENAI_MODEL (+ _IMAGE_MODEL, _SPEECH_MODEL; REPLICATE_* for videos)",
        ),
    ] = ProviderChoice.FAKE,
    samples: Annotated[
        bool | None,
        typer.Option(
            "--samples/--no-samples",
            envvar="BACKBURNER_DEMO_SAMPLES",
            help="submit the app's sample jobs (default: with the fake provider only)",
        ),
    ] = None,
    exit_after: Annotated[
        float | None,
        typer.Option(
            envvar="BACKBURNER_DEMO_EXIT_AFTER", min=0.0, help="stop after this many seconds"
        ),
    ] = None,
    fake_latency: Annotated[
        float,
        typer.Option(
            envvar="BACKBURNER_DEMO_FAKE_LATENCY", min=0.0, help="the fake's seconds per answer"
        ),
    ] = 0.4,
    fake_error_rate: Annotated[
        float,
        typer.Option(
            envvar="BACKBURNER_DEMO_FAKE_ERROR_RATE",
            min=0.0,
            max=0.9,
            help="the fake's fraction of 502/503 answers",
        ),
    ] = 0.05,
    log_level: LogLevel = "WARNING",
) -> None:
    """Serve the example apps with a worker and the dashboard, on a fake AI provider."""
    _configure_logging(log_level)
    url = _database_url(database)
    knobs = {**FAKE_KNOBS, "latency_s": fake_latency, "error_rate": fake_error_rate}
    with _providers(provider, knobs) as where:
        app = _load(app_path, url)
        # Samples cost nothing on the fake; on a real service they would cost real money.
        wanted = provider is ProviderChoice.FAKE if samples is None else samples
        todo = _samples(app_path) if wanted else []
        typer.echo(f"backburner demo: {app_path} on {_shown(url)}")
        typer.echo(f"  AI provider  {where}")
        run_main(lambda: _run(app, port, todo, exit_after, log_level))


# ── setting up ────────────────────────────────────────────────────────────
def _database_url(database: str | None) -> str:
    """``--database`` as a URL; without it, ``./demo.db`` made afresh (and its artifacts)."""
    if database is not None:
        return database if "://" in database else f"sqlite:///{database}"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{DEFAULT_DATABASE}{suffix}").unlink(missing_ok=True)
    shutil.rmtree(DEFAULT_DATABASE.with_suffix(".artifacts"), ignore_errors=True)
    return f"sqlite:///{DEFAULT_DATABASE}"


@contextlib.contextmanager
def _providers(choice: ProviderChoice, knobs: dict[str, Any]) -> Iterator[str]:
    """Start the fake provider for the block (pointing the app at it), or check that the
    OpenAI variables are there; yields a line saying where AI calls go."""
    if choice is ProviderChoice.OPENAI:
        _check_openai(os.environ)
        os.environ.pop(PROVIDER_URL_ENV, None)
        base = os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"
        yield f"{base} (model {os.environ['OPENAI_MODEL']}){_replicate_note(os.environ)}"
        return
    from .fakeprovider import start_fake_provider  # Pillow and a server: only when used

    with start_fake_provider(**knobs) as fake:
        # The app is built from the environment when it is loaded, just after this.
        os.environ[PROVIDER_URL_ENV] = fake.url
        yield f"FAKE (not a model) at {fake.url}; knobs at {fake.origin}/_fake/knobs"


def _check_openai(env: Mapping[str, str]) -> None:
    missing = [] if env.get("OPENAI_MODEL") else ["OPENAI_MODEL"]
    if not (env.get("OPENAI_API_KEY") or env.get("OPENAI_BASE_URL")):
        missing.insert(0, "OPENAI_API_KEY (or OPENAI_BASE_URL, for a local server)")
    if missing:
        raise fail(f"--provider openai needs {' and '.join(missing)} in the environment")


def _replicate_note(env: Mapping[str, str]) -> str:
    if env.get("REPLICATE_API_TOKEN") or env.get("REPLICATE_BASE_URL"):
        return ""
    return "; videos need REPLICATE_API_TOKEN (or REPLICATE_BASE_URL)"


def _load(app_path: str, database_url: str) -> Backburner:
    """The app, on the demo's database; a clear error when it cannot be imported."""
    try:
        return make_app(app_path, database_url, needs_app=True)
    except ConfigError as exc:
        hint = "run it from the repository root, where examples/ is"
        raise fail(f"{exc} ({hint if app_path == DEMO_APP else 'check --app'})") from None


def _samples(app_path: str) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """The ``DEMO_SAMPLES`` of the app's module (none if it has none)."""
    module = sys.modules.get(app_path.partition(":")[0])
    return list(getattr(module, "DEMO_SAMPLES", ()))


def _shown(url: str) -> str:
    return url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else url


async def _prepare(
    app: Backburner, todo: list[tuple[str, dict[str, Any], dict[str, Any]]]
) -> Access:
    """The demo owner's key, credits and browser token, the operator's key, the samples."""
    _, key = await app.create_api_key(DEMO_OWNER)
    _, admin_key = await app.create_api_key(OPERATOR, admin=True)
    await app.credits.grant(DEMO_OWNER, CREDITS, note="demo credits")
    token = await app.create_browser_token(DEMO_OWNER, ttl_s=TOKEN_TTL_S)
    known = set(app.kinds.names())
    ids: set[str] = set()
    for kind, data, options in todo:
        if kind in known:
            ids.add((await app.submit(kind, data, owner=DEMO_OWNER, **options)).id)
    return Access(key, admin_key, token.token, len(ids))


# ── serving ───────────────────────────────────────────────────────────────
async def _run(
    app: Backburner,
    port: int,
    todo: list[tuple[str, dict[str, Any], dict[str, Any]]],
    exit_after: float | None,
    log_level: str,
) -> int:
    try:
        sock = listen_socket(HOST, port)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        message = f"cannot listen on {HOST}:{port}: {reason} (--port 0 picks a free port)"
        raise fail(message, 1) from None
    try:
        with sock:
            access = await _prepare(app, todo)
            return await _serve(app, sock, access, exit_after, log_level)
    finally:
        await app.close()  # the server closes it too once it served; twice is harmless


async def _serve(
    app: Backburner, sock: socket.socket, access: Access, exit_after: float | None, log_level: str
) -> int:
    """Serve the API with a worker inside on ``sock`` until a signal or ``exit_after``."""
    import uvicorn  # 0.1 s to import: only here

    from .api import create_api

    api = create_api(app, run_worker=True)
    server = uvicorn.Server(uvicorn.Config(api, log_level=log_level.lower(), access_log=False))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    if not await _started(server, serving):
        await serving
        typer.echo("error: the server did not start (see the log above)", err=True)
        return 1
    _announce(f"http://{HOST}:{sock.getsockname()[1]}", access, exit_after)
    if exit_after is not None:
        asyncio.get_running_loop().call_later(exit_after, _stop, server)
    await serving
    typer.echo("demo stopped")
    return 0


async def _started(server: uvicorn.Server, serving: asyncio.Task[None]) -> bool:
    """Wait until uvicorn serves (True) or gives up starting (False)."""
    while not server.started:
        if serving.done():
            return False
        await asyncio.sleep(0.02)
    return True


def _stop(server: uvicorn.Server) -> None:
    server.should_exit = True


def _announce(base: str, access: Access, exit_after: float | None) -> None:
    lines = [
        f"  jobs         {access.submitted} sample jobs submitted for owner {DEMO_OWNER!r}, "
        f"who has {CREDITS} credits",
        "",
        f"  dashboard    {base}/ui#token={access.token}",
        f"  operator     {base}/ui/admin#key={access.admin_key}",
        f'  API          curl -H "Authorization: Bearer {access.key}" {base}/v1/jobs',
        f"  API docs     {base}/docs",
        "",
        f"Stops after {exit_after:g} s." if exit_after is not None else "Ctrl-C stops it.",
    ]
    for line in lines:
        typer.echo(line)
