"""AI providers on httpx: OpenAI-compatible chat, images and speech, and create-then-poll
prediction APIs, with one error classification for all (docs/providers.md).

```python
from backburner.providers import ChatProvider

chat = ChatProvider.from_env()             # OPENAI_BASE_URL, OPENAI_API_KEY, OPENAI_MODEL

@app.task(timeout="2m", attempts=3)
async def chapter(ctx: bb.Context, entry: ChapterIn) -> ChapterOut:
    return await chat.structured(f"Write a chapter from: {entry.journal_entry}", ChapterOut)
```

A handler lets provider errors propagate: timeouts, connection errors, 429 and 5xx are
retried (after the provider's ``Retry-After``), other 4xx fail the job at once, and a reply
that is not the JSON asked for is an ``invalid_output`` error that is retried.
"""

from __future__ import annotations

from .base import HttpProvider, ProviderConfig
from .chat import ChatProvider, Messages, StructuredMode, parse_json_reply
from .errors import (
    InvalidOutput,
    PredictionCanceled,
    PredictionFailed,
    ProviderError,
    ProviderRejected,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    parse_retry_after,
)
from .images import GeneratedImage, ImageProvider
from .predictions import (
    PollPolicy,
    Prediction,
    PredictionProvider,
    ProgressCallback,
    poll_delays,
    progress_span,
)
from .speech import SpeechProvider

__all__ = [
    "ChatProvider",
    "GeneratedImage",
    "HttpProvider",
    "ImageProvider",
    "InvalidOutput",
    "Messages",
    "PollPolicy",
    "Prediction",
    "PredictionCanceled",
    "PredictionFailed",
    "PredictionProvider",
    "ProgressCallback",
    "ProviderConfig",
    "ProviderError",
    "ProviderRejected",
    "ProviderTimeout",
    "ProviderUnavailable",
    "RateLimited",
    "SpeechProvider",
    "StructuredMode",
    "parse_json_reply",
    "parse_retry_after",
    "poll_delays",
    "progress_span",
]
