"""Internal: the fake's OpenAI-compatible endpoints — chat, images, speech, models."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from . import text
from .knobs import FakeState, seeded
from .media import parse_size, picture_png, speech_wav

__all__ = ["ChatRequest", "ImageRequest", "SpeechRequest", "openai_routes"]

CHAT_MODEL = "fake-chat"
IMAGE_MODEL = "fake-image"
SPEECH_MODEL = "fake-speech"


class ChatMessage(BaseModel):
    """One chat message (other fields, e.g. ``name``, are accepted and ignored)."""

    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None


class ChatRequest(BaseModel):
    """The fields of a chat completion request the fake reads."""

    model_config = ConfigDict(extra="allow")

    model: str = CHAT_MODEL
    messages: list[ChatMessage] = Field(min_length=1)
    response_format: dict[str, Any] | None = None


class ImageRequest(BaseModel):
    """The fields of an image generation request the fake reads."""

    model_config = ConfigDict(extra="allow")

    prompt: str = Field(min_length=1, max_length=4000)
    model: str = IMAGE_MODEL
    n: int = Field(default=1, ge=1, le=4)
    size: str | None = Field(default=None, pattern=r"^(\d{2,5}x\d{2,5}|auto)$")
    response_format: Literal["b64_json", "url"] = "b64_json"


class SpeechRequest(BaseModel):
    """The fields of a speech request the fake reads; it speaks ``wav`` and ``pcm`` only."""

    model_config = ConfigDict(extra="allow")

    input: str = Field(min_length=1, max_length=4096)
    model: str = SPEECH_MODEL
    voice: str = "alloy"
    response_format: Literal["wav", "pcm"] = "wav"
    speed: float = Field(default=1.0, ge=0.25, le=4.0)


def openai_routes(router: APIRouter, state: FakeState) -> None:
    """Add the OpenAI-compatible endpoints to ``router`` (mounted at ``/v1``)."""

    @router.post("/chat/completions")
    async def chat(body: ChatRequest) -> dict[str, Any]:
        messages = [m.model_dump(exclude_none=True) for m in body.messages]
        return _completion(
            body.model, chat_reply(state, body.model, messages, body.response_format)
        )

    @router.post("/images/generations")
    async def images(body: ImageRequest, request: Request) -> dict[str, Any]:
        size = parse_size(body.size)
        origin = str(request.base_url).rstrip("/")
        data = [await _image(state, body, size, i, origin) for i in range(body.n)]
        return {"created": int(time.time()), "data": data}

    @router.post("/audio/speech")
    async def speech(body: SpeechRequest) -> Response:
        seed = state.knobs.seed
        wav = await asyncio.to_thread(speech_wav, body.input, body.voice, seed, body.speed)
        if body.response_format == "pcm":
            return Response(wav[44:], media_type="audio/pcm")  # the samples, past the header
        return Response(wav, media_type="audio/wav")

    @router.get("/models")
    async def models() -> dict[str, Any]:
        names = (CHAT_MODEL, IMAGE_MODEL, SPEECH_MODEL)
        data = [{"id": n, "object": "model", "owned_by": "backburner-fake"} for n in names]
        return {"object": "list", "data": data}


def chat_reply(
    state: FakeState,
    model: str,
    messages: list[dict[str, Any]],
    response_format: dict[str, Any] | None,
) -> str:
    """The reply's text: JSON (a chapter, or an object for the schema asked for) when JSON is
    asked for — broken or fenced as the knobs say —, else a paragraph of prose."""
    knobs = state.knobs
    rng = seeded(knobs.seed, "chat", model, json.dumps(messages, sort_keys=True))
    vocabulary = text.words(text.last_user_text(messages))
    if not text.wants_json(messages, response_format):
        return "\n\n".join(text.prose(vocabulary, rng) for _ in range(2))
    value = text.from_schema(text.find_schema(messages, response_format), vocabulary, rng)
    if state.chance(knobs.invalid_json_rate):
        return text.broken_json(value, rng)
    reply = json.dumps(value, ensure_ascii=False, indent=2)
    return text.fenced(reply) if state.chance(knobs.fence_rate) else reply


def _completion(model: str, content: str) -> dict[str, Any]:
    completion_tokens = len(content.split())
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 0, "completion_tokens": completion_tokens},
    }


async def _image(
    state: FakeState, body: ImageRequest, size: tuple[int, int], index: int, origin: str
) -> dict[str, Any]:
    revised = f"{body.prompt} (drawn as abstract shapes by the fake provider)"
    if body.response_format == "url":
        file_id = state.new_id("img_")
        state.images[file_id] = (body.prompt, size, index)
        return {"url": f"{origin}/v1/files/images/{file_id}.png", "revised_prompt": revised}
    png = await asyncio.to_thread(picture_png, body.prompt, size, state.knobs.seed, index)
    return {"b64_json": base64.b64encode(png).decode(), "revised_prompt": revised}
