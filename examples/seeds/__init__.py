"""The five seed apps' workflows as backburner kinds (docs/examples.md).

| seed | app | kinds |
|---|---|---|
| 000 | journaling: an entry becomes a chapter | ``chapter`` |
| 001 | TV show: character portraits and videos | ``portrait``, ``character_video`` |
| 002 | script-to-video studio | ``script_video`` |
| 003 | nail designs, paid in credits | ``nail_design`` |
| 004 | audiobooks: a chapter read aloud | ``chapter_audio`` |

```
backburner demo                                   # all of it, on a fake AI provider
backburner serve examples.seeds:app               # or serve them yourself
```

``app`` is built on first use, from the environment of the process that asks for it: the
database from ``BACKBURNER_*`` (`backburner.Settings`), the providers from
``BACKBURNER_DEMO_PROVIDER_URL`` or ``OPENAI_*``/``REPLICATE_*`` (`ProviderSet.from_env`).
Tests build their own with `create_app`. ``DEMO_SAMPLES`` are the requests ``backburner demo``
submits so the dashboard has something to show.
"""

from __future__ import annotations

from typing import Any

import backburner as bb

from .chapter_audio import add_chapter_audio
from .chapters import add_chapter
from .characters import add_characters
from .nail_designs import add_nail_design
from .providers import ProviderSet
from .samples import DEMO_SAMPLES
from .script_video import add_script_video

__all__ = ["DEMO_SAMPLES", "ProviderSet", "app", "create_app"]


def create_app(
    settings: bb.Settings | None = None, providers: ProviderSet | None = None
) -> bb.Backburner:
    """An app with the six example kinds; ``settings`` and ``providers`` default to the
    environment's."""
    app = bb.Backburner(settings=settings)
    providers = providers or ProviderSet.from_env()
    add_chapter(app, providers)
    add_characters(app, providers)
    add_script_video(app, providers)
    add_nail_design(app, providers)
    add_chapter_audio(app, providers)
    return app


def __getattr__(name: str) -> Any:
    """Build ``app`` on first access (PEP 562), so importing this package reads nothing."""
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    built = globals()["app"] = create_app()
    return built
