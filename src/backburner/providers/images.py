"""Images from an OpenAI-compatible images API (``POST {base_url}/images/generations``).

```python
images = ImageProvider.from_env()          # OPENAI_BASE_URL, OPENAI_API_KEY, OPENAI_IMAGE_MODEL
[portrait] = await images.generate("A watercolour portrait of Ada, soft light", size="1024x1024")
portrait.data                              # the PNG's bytes, downloaded if the API sent a URL
```
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .base import HttpProvider
from .errors import InvalidOutput, clip

__all__ = ["GeneratedImage", "ImageProvider", "media_type_of"]

_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"RIFF", "image/webp"),
)


@dataclass(frozen=True)
class GeneratedImage:
    """One generated image: its bytes, and where the provider put it, if it said."""

    #: The image file's bytes (PNG, JPEG or WebP, as the provider made it).
    data: bytes = field(repr=False)
    #: The provider's URL of the image, when it answered with one (often short-lived).
    url: str | None = None
    #: The prompt as the provider rewrote it, when it says.
    revised_prompt: str | None = None

    @property
    def media_type(self) -> str:
        """The image's media type, read from its first bytes."""
        return media_type_of(self.data)


class ImageProvider(HttpProvider):
    """An OpenAI-compatible image generation endpoint.

    The answer may carry each image as ``b64_json`` or as a ``url``; either way `generate`
    returns the bytes (a URL on another host is fetched without the API key).
    """

    model_variable = "_IMAGE_MODEL"

    async def generate(
        self,
        prompt: str,
        *,
        n: int = 1,
        size: str | None = None,
        model: str | None = None,
        response_format: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> list[GeneratedImage]:
        """Generate ``n`` images for ``prompt``. ``response_format`` (``b64_json`` or ``url``)
        is sent only when given: some models refuse the field."""
        body: dict[str, Any] = {"prompt": prompt, "n": n}
        optional = {"model": model or self.config.model, "size": size}
        optional["response_format"] = response_format
        body.update({k: v for k, v in optional.items() if v is not None})
        body.update(extra or {})
        answer = await self.request_json("POST", "images/generations", json=body)
        items = answer.get("data")
        if not isinstance(items, list) or not items:
            raw = str(answer)
            raise InvalidOutput(f"the images answer has no images: {clip(raw)}", raw=raw)
        return [await self._image(item) for item in items]

    async def _image(self, item: Any) -> GeneratedImage:
        if not isinstance(item, dict):
            raise InvalidOutput(
                f"an image entry is not an object: {clip(str(item))}", raw=str(item)
            )
        revised = item.get("revised_prompt")
        revised = revised if isinstance(revised, str) else None
        if isinstance(item.get("b64_json"), str):
            return GeneratedImage(data=_decode(item["b64_json"]), revised_prompt=revised)
        url = item.get("url")
        if not isinstance(url, str):
            raise InvalidOutput("an image entry has neither b64_json nor url", raw=str(item))
        response = await self.request("GET", url)
        if not response.content:
            raise InvalidOutput(f"the image at {url} is empty")
        return GeneratedImage(data=response.content, url=url, revised_prompt=revised)


def media_type_of(data: bytes) -> str:
    """The media type of an image file's bytes, or ``application/octet-stream``."""
    for signature, media_type in _SIGNATURES:
        if data.startswith(signature):
            return media_type
    return "application/octet-stream"


def _decode(text: str) -> bytes:
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidOutput(f"an image's b64_json is not base64 ({exc})", raw=text[:2000]) from exc
    if not data:
        raise InvalidOutput("an image's b64_json is empty")
    return data
