"""A FAKE AI provider: a real HTTP server on loopback for tests and demos. Nothing it returns
comes from a model.

It speaks the endpoints `backburner.providers` talks to — OpenAI-compatible chat, images and
speech under ``/v1``, and Replicate-like predictions (``POST /v1/predictions``, ``GET
/v1/predictions/{id}``, ``POST /v1/predictions/{id}/cancel``) — and fails on demand: latency,
502/503, 429 with ``Retry-After``, broken JSON, requests that never answer (`Knobs`).

Its outputs are plausible and repeatable (fixed by ``seed`` and the prompt): chapter-like
JSON (or an object for the JSON schema asked for), PNG pictures of shapes in the prompt's
colours (Pillow), WAV "speech" of hummed syllables (``wave``), and for predictions a short
animated GIF standing in for a video clip.

```python
from backburner.fakeprovider import start_fake_provider
from backburner.providers import ChatProvider

with start_fake_provider(seed=1, fail_next=[503]) as fake:
    chat = ChatProvider(fake.config())
    ...                                    # the first request gets a 503, the next a reply
```

From a shell: ``backburner fake-provider --port 8900 --error-rate 0.1`` (docs/providers.md).
"""

from __future__ import annotations

from .app import create_fake_app
from .knobs import FakeRequest, FakeState, Knobs
from .runner import FakeProvider, serve_fake_provider, start_fake_provider

__all__ = [
    "FakeProvider",
    "FakeRequest",
    "FakeState",
    "Knobs",
    "create_fake_app",
    "serve_fake_provider",
    "start_fake_provider",
]
