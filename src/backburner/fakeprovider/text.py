"""Internal: the fake's chat replies — chapter-like JSON, prose, broken JSON on purpose.

Everything is built from the prompt's own words with a generator fixed by (seed, prompt), so
the same request gets the same reply every run.
"""

from __future__ import annotations

import json
import random
import re
from typing import Any

__all__ = [
    "broken_json",
    "chapter",
    "fenced",
    "find_schema",
    "from_schema",
    "last_user_text",
    "prose",
    "wants_json",
    "words",
]

_STOPWORDS = frozenset(
    "the and for that this with from have your into about what when were there their would "
    "could should which while them then than they this those these just very been also only "
    "reply json object schema must match nothing else write turn chapter entry journal "
    "tell give make please want need like felt went made said into onto over under".split()
)
_FALLBACK = ["lantern", "harbour", "morning", "letter", "river", "garden", "window", "silence"]
_MOODS = ["hopeful", "melancholy", "tender", "restless", "serene", "bittersweet", "defiant"]
_SAD = frozenset({"rain", "tired", "lost", "alone", "grief", "cold", "missed", "empty"})
_SENTENCES = [
    "{A} had always seemed ordinary, until the evening it didn't.",
    "Somewhere between the {a} and the {b}, something quietly shifted.",
    "She thought about {a} for a long time, and about what it meant to begin again.",
    "The {a} waited by the window, patient as an old promise.",
    "Nobody spoke of {a}; everybody thought of it.",
    "By the time the {a} arrived, the {b} had already changed its mind.",
    "It was the kind of day that smelled of {a} and unfinished {b}.",
    "He kept the {a} in his pocket, as if it could still explain itself.",
    "Later, much later, the {a} would be the part they remembered.",
]


def words(text: str) -> list[str]:
    """The prompt's content words (four letters or more, no stopwords), in order."""
    found = [w.lower() for w in re.findall(r"[A-Za-z][A-Za-z'-]{3,}", text)]
    return [w for w in found if w not in _STOPWORDS] or list(_FALLBACK)


def prose(vocabulary: list[str], rng: random.Random, sentences: int = 4) -> str:
    """A short paragraph in a novel's voice, built around ``vocabulary``."""
    out = []
    for _ in range(sentences):
        a, b = rng.choice(vocabulary), rng.choice(vocabulary)
        out.append(rng.choice(_SENTENCES).format(A=a.capitalize(), a=a, b=b))
    return " ".join(out)


def chapter(vocabulary: list[str], rng: random.Random) -> dict[str, Any]:
    """A chapter: ``{title, mood, content}`` (three paragraphs)."""
    sad = _SAD & set(vocabulary)
    return {
        "title": _title(vocabulary, rng),
        "mood": "melancholy" if sad else rng.choice(_MOODS),
        "content": "\n\n".join(prose(vocabulary, rng) for _ in range(3)),
    }


def _title(vocabulary: list[str], rng: random.Random) -> str:
    first, second = rng.choice(vocabulary).capitalize(), rng.choice(vocabulary).capitalize()
    if first == second:
        return f"The {first}"
    return rng.choice(["The {a} and the {b}", "A {a} for the {b}", "{a}, {b}"]).format(
        a=first, b=second
    )


def from_schema(
    schema: dict[str, Any] | None, vocabulary: list[str], rng: random.Random
) -> dict[str, Any]:
    """An object for ``schema`` (a JSON schema, e.g. pydantic's): plausible values for each
    property; a chapter when there is no schema."""
    if not schema or not isinstance(schema.get("properties"), dict):
        return chapter(vocabulary, rng)
    value = _value(schema, schema.get("$defs", {}), vocabulary, rng, "", 0)
    return value if isinstance(value, dict) else chapter(vocabulary, rng)


def _value(
    schema: dict[str, Any],
    defs: dict[str, Any],
    vocabulary: list[str],
    rng: random.Random,
    name: str,
    depth: int,
) -> Any:
    if "$ref" in schema:
        schema = defs.get(str(schema["$ref"]).rsplit("/", 1)[-1], {})
    for key in ("anyOf", "oneOf"):
        options = [o for o in schema.get(key, []) if o.get("type") != "null"]
        if options:
            return _value(options[0], defs, vocabulary, rng, name, depth)
    if "enum" in schema:
        return rng.choice(schema["enum"])
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type", "string")
    if kind == "object" and depth < 4:
        properties = schema.get("properties", {})
        return {k: _value(v, defs, vocabulary, rng, k, depth + 1) for k, v in properties.items()}
    if kind == "array" and depth < 4:
        low = int(schema.get("minItems", 0))
        count = max(low, min(2, int(schema.get("maxItems", 2))))
        item = schema.get("items", {})
        return [_value(item, defs, vocabulary, rng, name, depth + 1) for _ in range(count)]
    return _scalar(kind, schema, vocabulary, rng, name)


def _scalar(
    kind: Any, schema: dict[str, Any], vocabulary: list[str], rng: random.Random, name: str
) -> Any:
    if kind == "integer":
        return rng.randint(int(schema.get("minimum", 1)), int(schema.get("maximum", 10)))
    if kind == "number":
        return round(rng.uniform(schema.get("minimum", 0.0), schema.get("maximum", 1.0)), 3)
    if kind == "boolean":
        return rng.random() < 0.5
    if name in ("title", "name", "heading"):
        return _title(vocabulary, rng)
    if name == "mood":
        return "melancholy" if _SAD & set(vocabulary) else rng.choice(_MOODS)
    text = prose(vocabulary, rng, 6 if name in ("content", "text", "body", "story") else 2)
    min_length = int(schema.get("minLength", 0))
    while len(text) < min_length:
        text += " " + prose(vocabulary, rng, 2)
    max_length = schema.get("maxLength")
    return text[: int(max_length)] if max_length is not None else text


def wants_json(messages: list[dict[str, Any]], response_format: dict[str, Any] | None) -> bool:
    """Whether the request asks for JSON: JSON mode, a schema, or "JSON" in a message."""
    if response_format and response_format.get("type") in ("json_object", "json_schema"):
        return True
    return any("JSON" in _text(m) for m in messages)


def find_schema(
    messages: list[dict[str, Any]], response_format: dict[str, Any] | None
) -> dict[str, Any] | None:
    """The JSON schema asked for: ``response_format.json_schema.schema``, else one written
    into a message (as `ChatProvider.structured` does in ``json_object`` mode)."""
    if response_format and isinstance(response_format.get("json_schema"), dict):
        schema = response_format["json_schema"].get("schema")
        if isinstance(schema, dict):
            return schema
    decoder = json.JSONDecoder()
    for message in messages:
        text = _text(message)
        for match in re.finditer(r"\{", text):
            try:
                value = decoder.raw_decode(text, match.start())[0]
            except json.JSONDecodeError:
                continue
            if isinstance(value, dict) and "properties" in value:
                return value
    return None


def broken_json(value: Any, rng: random.Random) -> str:
    """``value`` as JSON that does not parse: cut off mid-way, the way truncated replies are."""
    text = json.dumps(value)
    cut = max(1, int(len(text) * rng.uniform(0.3, 0.8)))
    return "Here is the chapter you asked for:\n" + text[:cut]


def fenced(text: str) -> str:
    """``text`` in a ```json fenced block, with a chatty line before it."""
    return f"Sure! Here it is:\n\n```json\n{text}\n```"


def last_user_text(messages: list[dict[str, Any]]) -> str:
    """The last user message's text (what the reply should be about)."""
    for message in reversed(messages):
        if message.get("role") == "user":
            return _text(message)
    return _text(messages[-1]) if messages else ""


def _text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else ""
