"""Speech from an OpenAI-compatible audio API (``POST {base_url}/audio/speech``).

```python
speech = SpeechProvider.from_env()         # OPENAI_BASE_URL, OPENAI_API_KEY, OPENAI_SPEECH_MODEL
audio = await speech.synthesize("Chapter one. The rain had not stopped for days.", voice="nova")
Path("chapter-1.wav").write_bytes(audio)
```
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import HttpProvider
from .errors import InvalidOutput, clip

__all__ = ["SpeechProvider"]


class SpeechProvider(HttpProvider):
    """An OpenAI-compatible text-to-speech endpoint: text in, an audio file's bytes out."""

    model_variable = "_SPEECH_MODEL"

    async def synthesize(
        self,
        text: str,
        *,
        voice: str = "alloy",
        model: str | None = None,
        response_format: str = "wav",
        speed: float | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> bytes:
        """The audio file (``response_format``: ``wav``, ``mp3``, ``flac``, ``opus``, ``pcm``
        …) of ``text`` read by ``voice``. An empty or JSON answer is an `InvalidOutput`."""
        body: dict[str, Any] = {"input": text, "voice": voice, "response_format": response_format}
        optional = {"model": model or self.config.model, "speed": speed}
        body.update({k: v for k, v in optional.items() if v is not None})
        body.update(extra or {})
        response = await self.request("POST", "audio/speech", json=body)
        # A gateway that answers 200 with a JSON error instead of audio is not audio.
        if not response.content or "json" in response.headers.get("content-type", ""):
            raw = response.text if response.content else ""
            raise InvalidOutput(f"the speech answer is not audio: {clip(raw)!r}", raw=raw)
        return response.content
