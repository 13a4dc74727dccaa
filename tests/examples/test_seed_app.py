"""The seed app as a whole: its kinds over HTTP, its providers from the environment, and the
demo's sample requests."""

from __future__ import annotations

import httpx
import pytest
from examples.seeds import DEMO_SAMPLES, ProviderSet, create_app

import backburner as bb
from backburner.providers import PollPolicy

from .conftest import Keys

pytestmark = pytest.mark.sqlite_only

KINDS = ["chapter", "portrait", "character_video", "script_video", "nail_design", "chapter_audio"]


async def test_the_kinds_and_their_input_schemas_are_listed(
    api: httpx.AsyncClient, keys: Keys
) -> None:
    response = await api.get("/v1/kinds", headers=keys.alice)

    kinds = {k["name"]: k for k in response.json()["kinds"]}
    assert list(kinds) == KINDS
    assert kinds["chapter"]["input_schema"]["properties"]["journal_entry"]["minLength"] == 20
    assert kinds["nail_design"]["policy"]["cost"] is None  # a credit per image: see the job
    assert kinds["character_video"]["policy"]["concurrency"] == 4


def test_the_demo_provider_url_sends_every_provider_to_it() -> None:
    providers = ProviderSet.from_env(
        {"BACKBURNER_DEMO_PROVIDER_URL": "http://127.0.0.1:8900/v1", "OPENAI_MODEL": "gpt-x"}
    )
    configs = [providers.chat, providers.images, providers.speech, providers.videos]
    assert {c.base_url for c in configs} == {"http://127.0.0.1:8900/v1"}
    assert {c.model for c in configs} == {None}
    assert providers.poll.first_s < PollPolicy().first_s  # the fake advances per poll


def test_without_it_openai_and_replicate_variables_are_read() -> None:
    providers = ProviderSet.from_env(
        {
            "OPENAI_BASE_URL": "http://127.0.0.1:11434/v1",
            "OPENAI_MODEL": "llama3.2",
            "OPENAI_IMAGE_MODEL": "flux",
            "OPENAI_SPEECH_MODEL": "kokoro",
            "REPLICATE_API_TOKEN": "r8_x",
        }
    )
    assert providers.chat.base_url == providers.speech.base_url == "http://127.0.0.1:11434/v1"
    assert (providers.chat.model, providers.images.model, providers.speech.model) == (
        "llama3.2",
        "flux",
        "kokoro",
    )
    assert providers.videos.base_url == "https://api.replicate.com/v1"
    assert providers.videos.api_key == "r8_x"


def test_every_demo_sample_is_valid_input(seed_settings: bb.Settings) -> None:
    app = create_app(seed_settings, ProviderSet.fake("http://127.0.0.1:9/v1"))
    for kind, data, options in DEMO_SAMPLES:
        app.kinds.get(kind).validate_input(data, max_bytes=100_000)
        assert set(options) <= {"scope", "dedupe_key", "reuse"}
    assert {kind for kind, _, _ in DEMO_SAMPLES} == set(KINDS)
