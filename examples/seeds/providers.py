"""Where the example kinds' AI providers live: the fake provider, or real services.

``BACKBURNER_DEMO_PROVIDER_URL`` (set by ``backburner demo``) points every provider at one
OpenAI-compatible base URL that also speaks predictions, as the fake provider does. Without
it, chat, images and speech read ``OPENAI_*`` and videos read ``REPLICATE_*``
(see docs/providers.md for each variable).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from backburner.providers import (
    ChatProvider,
    ImageProvider,
    PollPolicy,
    PredictionProvider,
    ProviderConfig,
    SpeechProvider,
)

__all__ = ["DEMO_PROVIDER_URL", "REPLICATE_BASE_URL", "ProviderSet"]

#: The variable that sends every provider to one base URL (the fake's ``…/v1``).
DEMO_PROVIDER_URL = "BACKBURNER_DEMO_PROVIDER_URL"
REPLICATE_BASE_URL = "https://api.replicate.com/v1"

#: The fake's predictions advance once per poll, not with the clock: poll it briskly.
_FAKE_POLL = PollPolicy(first_s=0.05, factor=1.5, max_s=0.5)
_FAKE_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class ProviderSet:
    """The configs of the four providers the example kinds call.

    A handler opens the provider it needs per job (``async with providers.open_chat() as
    chat``): its connections close with the job, and it never outlives the event loop of
    the worker that runs it.
    """

    chat: ProviderConfig
    images: ProviderConfig
    speech: ProviderConfig
    videos: ProviderConfig
    #: How predictions (videos) are polled.
    poll: PollPolicy = field(default_factory=PollPolicy)
    #: The image size asked for: each image API accepts its own list.
    image_size: str = "1024x1024"

    @classmethod
    def fake(cls, url: str, *, poll: PollPolicy = _FAKE_POLL) -> ProviderSet:
        """Every provider at ``url`` (a fake provider's ``…/v1``), polled briskly."""
        config = ProviderConfig(base_url=url, timeout_s=_FAKE_TIMEOUT_S)
        return cls(config, config, config, config, poll=poll, image_size="512x512")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ProviderSet:
        """`fake` at ``BACKBURNER_DEMO_PROVIDER_URL`` when set; else ``OPENAI_*`` (model
        names ``OPENAI_MODEL``, ``OPENAI_IMAGE_MODEL``, ``OPENAI_SPEECH_MODEL``; the image
        size ``OPENAI_IMAGE_SIZE``) and ``REPLICATE_*`` for videos."""
        env = os.environ if environ is None else environ
        if env.get(DEMO_PROVIDER_URL):
            return cls.fake(env[DEMO_PROVIDER_URL])
        openai = ProviderConfig.from_env
        return cls(
            chat=openai("OPENAI", environ=env),
            images=openai("OPENAI", model_env="OPENAI_IMAGE_MODEL", environ=env),
            speech=openai("OPENAI", model_env="OPENAI_SPEECH_MODEL", environ=env),
            videos=openai("REPLICATE", base_url=REPLICATE_BASE_URL, environ=env),
            image_size=env.get("OPENAI_IMAGE_SIZE") or "1024x1024",
        )

    def open_chat(self) -> ChatProvider:
        """A chat provider for one job."""
        return ChatProvider(self.chat)

    def open_images(self) -> ImageProvider:
        """An image provider for one job."""
        return ImageProvider(self.images)

    def open_speech(self) -> SpeechProvider:
        """A speech provider for one job."""
        return SpeechProvider(self.speech)

    def open_videos(self) -> PredictionProvider:
        """A create-then-poll video provider for one job."""
        return PredictionProvider(self.videos, poll=self.poll)
