"""Chat with any OpenAI-compatible endpoint: OpenAI, NVIDIA, vLLM, Ollama, llama.cpp …

```python
chat = ChatProvider.from_env()                 # OPENAI_BASE_URL, OPENAI_API_KEY, OPENAI_MODEL

@app.task(timeout="2m", attempts=3)
async def chapter(ctx: bb.Context, entry: ChapterIn) -> ChapterOut:
    await ctx.progress(None, "Crafting your chapter…")
    return await chat.structured(f"Turn this journal entry into a chapter: {entry.text}",
                                 ChapterOut)
```

`structured` asks for JSON and validates the reply against a pydantic model; a reply that is
not JSON or does not fit is an `InvalidOutput` (retried, the raw reply kept in the message).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from .base import HttpProvider
from .errors import InvalidOutput, clip

__all__ = [
    "ChatProvider",
    "Messages",
    "StructuredMode",
    "as_messages",
    "parse_json_reply",
    "reply_text",
    "validate_reply",
]

#: A prompt (one user message) or OpenAI-style messages: ``[{"role": "user", "content": …}]``.
Messages = str | Sequence[Mapping[str, Any]]
#: How `ChatProvider.structured` asks for JSON: ``json_schema`` (``response_format`` with the
#: schema: OpenAI, vLLM, llama.cpp), ``json_object`` (JSON mode plus the schema in the system
#: prompt: the most widely supported) or ``prompt`` (the system prompt alone).
StructuredMode = Literal["json_schema", "json_object", "prompt"]

M = TypeVar("M", bound=BaseModel)

_FENCE = re.compile(r"```[ \t]*(?:json|JSON)?[ \t]*\n?(.*?)```", re.DOTALL)
_THINKING = re.compile(r"<think>.*?</think>", re.DOTALL)


class ChatProvider(HttpProvider):
    """An OpenAI-compatible chat completions endpoint (``POST {base_url}/chat/completions``).

    ```python
    chat = ChatProvider(ProviderConfig(base_url="http://127.0.0.1:11434/v1", model="llama3.2"))
    text = await chat.complete("Write a haiku about queues")
    ```
    """

    async def complete(
        self,
        messages: Messages,
        *,
        model: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        response_format: Mapping[str, Any] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> str:
        """The assistant's reply to ``messages``, as text. ``extra`` adds request fields
        (``top_p``, ``seed`` …). A reply without text is an `InvalidOutput`."""
        body: dict[str, Any] = {"messages": as_messages(messages)}
        model = model or self.config.model
        optional = {
            "model": model,
            "temperature": temperature,
            "max_tokens": max_tokens,
            "response_format": response_format,
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        body.update(extra or {})
        return reply_text(await self.request_json("POST", "chat/completions", json=body))

    async def structured(
        self,
        messages: Messages,
        output: type[M],
        *,
        mode: StructuredMode = "json_object",
        model: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> M:
        """The reply parsed as JSON (a fenced ```json block is fine) and validated as
        ``output``. Invalid JSON or a failed validation raise `InvalidOutput` (retryable),
        which keeps the raw reply."""
        asked, response_format = _asking_for_json(as_messages(messages), output, mode)
        text = await self.complete(
            asked,
            model=model,
            temperature=temperature,
            max_tokens=max_tokens,
            response_format=response_format,
            extra=extra,
        )
        return validate_reply(text, output)


def as_messages(messages: Messages) -> list[dict[str, Any]]:
    """``messages`` as a list of message dicts (a string is one user message)."""
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    return [dict(message) for message in messages]


def reply_text(body: Mapping[str, Any]) -> str:
    """The first choice's message text from a chat completion; `InvalidOutput` if none."""
    choices = body.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices else {}
    message = choice.get("message") if isinstance(choice, dict) else None
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, list):  # content parts, as some servers send them
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict)) or None
    if not isinstance(content, str) or not content.strip():
        reason = choice.get("finish_reason") if isinstance(choice, dict) else None
        raw = json.dumps(body)[:2000]
        raise InvalidOutput(
            f"the provider's reply has no text (finish_reason={reason}): {clip(raw)}", raw=raw
        )
    return content


def parse_json_reply(text: str) -> Any:
    """The JSON value in a model's reply: the whole reply, a ```json fenced block, or the
    first ``{…}`` object amid prose; ``<think>…</think>`` blocks are skipped.

    Raises `ValueError` (a `json.JSONDecodeError`) saying why when there is none.
    """
    text = _THINKING.sub("", text).strip()
    fence = _FENCE.search(text)
    candidates = [fence.group(1).strip(), text] if fence else [text]
    error: json.JSONDecodeError | None = None
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except json.JSONDecodeError as exc:
            error = error or exc
    start = text.find("{")
    if start > 0:  # prose, then an object: its own error says more than the prose's
        try:
            return json.JSONDecoder().raw_decode(text, start)[0]
        except json.JSONDecodeError as exc:
            error = exc
    assert error is not None
    raise error


def validate_reply(text: str, output: type[M]) -> M:
    """``text`` parsed with `parse_json_reply` and validated as ``output``, or `InvalidOutput`
    quoting the reason and the reply."""
    try:
        value = parse_json_reply(text)
    except ValueError as exc:
        raise InvalidOutput(
            f"the model's reply is not valid JSON ({exc}); the reply: {clip(text)!r}", raw=text
        ) from exc
    try:
        return output.model_validate(value)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}"
            for e in exc.errors()[:5]
        )
        raise InvalidOutput(
            f"the model's reply does not match {output.__name__} ({problems}); "
            f"the reply: {clip(text)!r}",
            raw=text,
        ) from exc


def _asking_for_json(
    messages: list[dict[str, Any]], output: type[BaseModel], mode: StructuredMode
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The messages and ``response_format`` that ask for ``output`` as JSON in ``mode``."""
    schema = output.model_json_schema()
    if mode == "json_schema":
        name = _schema_name(output)
        return messages, {"type": "json_schema", "json_schema": {"name": name, "schema": schema}}
    asked = _with_instruction(messages, schema)
    return asked, {"type": "json_object"} if mode == "json_object" else None


def _with_instruction(
    messages: list[dict[str, Any]], schema: dict[str, Any]
) -> list[dict[str, Any]]:
    # Some chat templates refuse a second system message: extend the first when there is one.
    instruction = (
        "Reply with one JSON object and nothing else. It must match this JSON schema:\n"
        + json.dumps(schema, separators=(",", ":"))
    )
    first = messages[0] if messages else None
    if first is not None and first.get("role") == "system" and isinstance(first["content"], str):
        return [{**first, "content": f"{first['content']}\n\n{instruction}"}, *messages[1:]]
    return [{"role": "system", "content": instruction}, *messages]


def _schema_name(output: type[BaseModel]) -> str:
    # OpenAI allows only [a-zA-Z0-9_-] in a schema's name.
    return re.sub(r"[^a-zA-Z0-9_-]", "_", output.__name__)[:64] or "output"
