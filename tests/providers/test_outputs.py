"""Happy paths: chat, structured output, images and speech — real files, repeatable."""

from __future__ import annotations

import contextlib
import io
import json
import wave
from typing import Literal

import httpx
import pytest
from PIL import Image
from pydantic import BaseModel, Field

from backburner.fakeprovider import FakeProvider, start_fake_provider
from backburner.providers import (
    ChatProvider,
    ImageProvider,
    ProviderError,
    ProviderRejected,
    SpeechProvider,
    StructuredMode,
)

ENTRY = "I walked in the rain to the old harbour and felt alone among the gulls."


class Chapter(BaseModel):
    title: str
    mood: str
    content: str


class Scene(BaseModel):
    number: int = Field(ge=1, le=12)
    description: str = Field(min_length=20)


class Storyboard(BaseModel):
    title: str
    style: Literal["noir", "pastel", "anime"]
    scenes: list[Scene] = Field(min_length=2)
    final: bool


async def test_complete_returns_prose_from_the_prompts_words(chat: ChatProvider) -> None:
    reply = await chat.complete([{"role": "user", "content": "Describe the lighthouse keeper"}])
    assert len(reply.split()) > 20
    assert "lighthouse" in reply or "keeper" in reply


@pytest.mark.parametrize("mode", ["json_object", "json_schema", "prompt"])
async def test_structured_output_in_every_mode(chat: ChatProvider, mode: StructuredMode) -> None:
    chapter = await chat.structured(f"Turn this entry into a chapter: {ENTRY}", Chapter, mode=mode)
    assert chapter.mood == "melancholy"  # "rain", "alone"
    assert chapter.title and len(chapter.content) > 100


async def test_structured_output_follows_a_nested_schema(chat: ChatProvider) -> None:
    board = await chat.structured("A storyboard for a heist at the museum", Storyboard)
    assert board.style in ("noir", "pastel", "anime") and len(board.scenes) >= 2


async def test_structured_output_tolerates_a_fenced_block(
    fake: FakeProvider, chat: ChatProvider
) -> None:
    fake.set_knobs(fence_rate=1.0)
    raw = await chat.complete("Reply in JSON about the harbour")
    assert raw.startswith("Sure! Here it is:\n\n```json\n")
    assert (await chat.structured(ENTRY, Chapter)).content


async def test_a_system_message_is_extended_not_doubled(chat: ChatProvider) -> None:
    from backburner.providers.chat import _with_instruction

    messages = [
        {"role": "system", "content": "You are a novelist."},
        {"role": "user", "content": ENTRY},
    ]
    sent = _with_instruction(messages, Chapter.model_json_schema())
    assert [m["role"] for m in sent] == ["system", "user"]
    assert sent[0]["content"].startswith("You are a novelist.\n\nReply with one JSON object")
    assert (await chat.structured(messages, Chapter)).content


async def test_the_same_seed_gives_the_same_outputs() -> None:
    replies = []
    for seed in (7, 7, 8):
        # A server each: nothing carries over but the seed.
        with start_fake_provider(seed=seed) as fake:
            async with ChatProvider(fake.config()) as chat, ImageProvider(fake.config()) as images:
                chapter = await chat.structured(ENTRY, Chapter)
                [image] = await images.generate("a red lighthouse", size="64x64")
                replies.append((chapter, image.data))
    assert replies[0] == replies[1]
    assert replies[0][0] != replies[2][0] and replies[0][1] != replies[2][1]


async def test_the_same_seed_fails_the_same_way(fake: FakeProvider, chat: ChatProvider) -> None:
    runs = []
    for _ in range(2):
        fake.reset(seed=3, error_rate=0.3, rate_limit_rate=0.2)
        for _ in range(20):
            with contextlib.suppress(ProviderError):
                await chat.complete("Hello")
        runs.append([r.status for r in fake.requests])
    assert runs[0] == runs[1] and {200, 429} <= set(runs[0]) and set(runs[0]) & {502, 503}


async def test_images_as_base64_are_pngs_in_the_prompts_colours(fake: FakeProvider) -> None:
    async with ImageProvider(fake.config()) as provider:
        images = await provider.generate("a red fox in a snowy forest", n=2, size="128x96")
    assert len(images) == 2 and images[0].data != images[1].data
    for image in images:
        assert image.media_type == "image/png" and image.url is None
        assert image.revised_prompt and "red fox" in image.revised_prompt
        picture = Image.open(io.BytesIO(image.data))
        picture.load()
        assert (picture.format, picture.size) == ("PNG", (128, 96))
        colours = picture.convert("RGB").getcolors(128 * 96) or []
        assert any(r > 150 and g < 60 and b < 60 for _, (r, g, b) in colours)  # some red


async def test_images_as_urls_are_downloaded(fake: FakeProvider) -> None:
    async with ImageProvider(fake.config()) as provider:
        [image] = await provider.generate("a harbour at dusk", response_format="url")
    assert image.url and image.url.startswith(f"{fake.url}/files/images/")
    assert Image.open(io.BytesIO(image.data)).size == (512, 512)
    assert fake.count("GET", "files/images") == 1


async def test_speech_is_a_wav_whose_length_follows_the_text(fake: FakeProvider) -> None:
    async with SpeechProvider(fake.config()) as provider:
        short = await provider.synthesize("Chapter one.")
        long = await provider.synthesize("Chapter one. The rain had not stopped for days, " * 3)
        pcm = await provider.synthesize("Chapter one.", response_format="pcm")
    durations = []
    for audio in (short, long):
        with wave.open(io.BytesIO(audio)) as wav:
            assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 16000)
            durations.append(wav.getnframes() / wav.getframerate())
    assert 0.2 < durations[0] < durations[1] < 30
    assert pcm == short[44:]


async def test_speech_in_a_format_the_fake_cannot_make_is_refused(fake: FakeProvider) -> None:
    async with SpeechProvider(fake.config()) as provider:
        with pytest.raises(ProviderRejected, match="response_format: Input should be 'wav'"):
            await provider.synthesize("Chapter one.", response_format="mp3")


async def test_the_fake_lists_its_models_and_knobs_over_http(fake: FakeProvider) -> None:
    async with httpx.AsyncClient() as client:
        models = (await client.get(f"{fake.url}/models")).json()
        changed = await client.post(f"{fake.origin}/_fake/knobs", json={"latency_s": 0.01})
        refused = await client.post(f"{fake.origin}/_fake/knobs", json={"error_rate": 2})
        bare = await client.post(f"{fake.origin}/_fake/knobs", content=b'{"fence_rate": 0.5}')
        about = (await client.get(f"{fake.origin}/")).json()
        log = (await client.get(f"{fake.origin}/_fake/requests")).json()
    assert {m["id"] for m in models["data"]} == {"fake-chat", "fake-image", "fake-speech"}
    assert changed.json()["latency_s"] == 0.01 and fake.knobs.latency_s == 0.01
    assert refused.status_code == 422 and fake.knobs.error_rate == 0
    assert bare.status_code == 200 and fake.knobs.fence_rate == 0.5  # no content type needed
    assert about["fake"] is True and about["base_url"] == fake.url
    assert [(r["method"], r["path"], r["status"]) for r in log] == [
        ("GET", "/v1/models", 200),
        ("GET", "/", 200),
    ]
    assert json.dumps(log)  # plain JSON
