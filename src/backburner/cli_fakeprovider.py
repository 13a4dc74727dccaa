"""CLI command ``fake-provider``: run the fake AI provider in the foreground. Registered on
`cli.cli`.

```
backburner fake-provider --port 8900 --seed 7 --latency 0.2 --error-rate 0.1
BACKBURNER_DEMO_PROVIDER_URL=http://127.0.0.1:8900/v1 backburner worker examples.seeds:app
```
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError

from .cli import cli, fail

if TYPE_CHECKING:
    from .fakeprovider import FakeProvider

__all__ = ["fake_provider"]


def _rate(name: str, text: str) -> Any:
    return typer.Option(envvar=f"BACKBURNER_FAKE_{name}", min=0.0, max=1.0, help=text)


@cli.command("fake-provider")
def fake_provider(
    host: Annotated[
        str, typer.Option(envvar="BACKBURNER_FAKE_HOST", help="address to listen on")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(envvar="BACKBURNER_FAKE_PORT", min=0, help="port (0: any free one)")
    ] = 8900,
    seed: Annotated[
        int, typer.Option(envvar="BACKBURNER_FAKE_SEED", help="fixes outputs and fault order")
    ] = 0,
    latency: Annotated[
        float, typer.Option(envvar="BACKBURNER_FAKE_LATENCY", min=0.0, help="seconds per answer")
    ] = 0.0,
    error_rate: Annotated[float, _rate("ERROR_RATE", "fraction answered 502/503")] = 0.0,
    rate_limit_rate: Annotated[float, _rate("RATE_LIMIT_RATE", "fraction answered 429")] = 0.0,
    retry_after: Annotated[
        float,
        typer.Option(
            envvar="BACKBURNER_FAKE_RETRY_AFTER", min=0.0, help="Retry-After seconds on 429/503"
        ),
    ] = 1.0,
    invalid_json_rate: Annotated[
        float, _rate("INVALID_JSON_RATE", "fraction of JSON chat replies that are broken")
    ] = 0.0,
    hang_rate: Annotated[float, _rate("HANG_RATE", "fraction never answered")] = 0.0,
    prediction_steps: Annotated[
        int,
        typer.Option(envvar="BACKBURNER_FAKE_PREDICTION_STEPS", min=0, help="polls per prediction"),
    ] = 3,
    api_key: Annotated[
        str | None,
        typer.Option(envvar="BACKBURNER_FAKE_API_KEY", help="require this bearer key"),
    ] = None,
) -> None:
    """Run the FAKE AI provider (OpenAI-compatible chat/images/speech, Replicate-like
    predictions) until Ctrl-C: for demos and tests, nothing it returns comes from a model.
    Knobs can be changed while it runs: POST /_fake/knobs."""
    from .fakeprovider import Knobs, serve_fake_provider  # Pillow and the app load only here

    try:
        knobs = Knobs(
            seed=seed,
            latency_s=latency,
            error_rate=error_rate,
            rate_limit_rate=rate_limit_rate,
            retry_after_s=retry_after,
            invalid_json_rate=invalid_json_rate,
            hang_rate=hang_rate,
            prediction_steps=prediction_steps,
            api_key=api_key,
        )
    except ValidationError as exc:
        raise fail(f"invalid knobs: {exc.errors()[0]['msg']}") from None
    try:
        serve_fake_provider(knobs, host=host, port=port, on_ready=_announce)
    except OSError as exc:
        raise fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}", 1) from None
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


def _announce(fake: FakeProvider) -> None:
    url = fake.url
    typer.echo(f"fake AI provider (not a model) on {url}")
    typer.echo(f"  OPENAI_BASE_URL={url} REPLICATE_BASE_URL={url}")
    typer.echo(f"  knobs: GET/POST {fake.origin}/_fake/knobs; Ctrl-C stops it")
