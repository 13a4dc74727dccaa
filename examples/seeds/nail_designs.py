"""Seed 003, the nail-design app: several designs generating at once, one per tab.

- Each tab submits its own job; they run in parallel (the seed's cron worker ran one at a
  time, a minute apart).
- ``cost=`` puts the credits on the kind: reserved at submit (a submit the owner cannot pay
  for is refused, ``402``), charged when generation actually starts, refunded when it fails
  for good — the seed's ``creditsDeducted`` flag, done by the ledger.
- Designs are saved as artifacts. Without a long-running worker, a cron calling
  ``POST /v1/worker/tick`` runs the queue instead (docs/examples.md).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

import backburner as bb

from .media import artifact_name
from .providers import ProviderSet

__all__ = ["NailDesignIn", "NailDesignOut", "add_nail_design", "design_cost", "design_prompt"]


class NailDesignIn(BaseModel):
    """One tab's design settings."""

    prompt: str = Field(min_length=3, max_length=1000, description="the idea, in words")
    tab: str = Field(default="Design 1", max_length=60, description="the tab it belongs to")
    shape: Literal["almond", "square", "coffin", "stiletto", "oval"] = "almond"
    length: Literal["short", "medium", "long"] = "medium"
    finish: Literal["glossy", "matte", "chrome", "glitter"] = "glossy"
    colors: list[str] = Field(default_factory=list, max_length=5, description="e.g. teal, gold")
    variations: int = Field(default=2, ge=1, le=4, description="images to generate (1 credit each)")


class NailDesignOut(BaseModel):
    """The generated designs (artifact URLs) and the prompt they were drawn from."""

    images: list[str]
    prompt: str


def design_cost(design: NailDesignIn) -> float:
    """What a design costs: a credit per image."""
    return float(design.variations)


def design_prompt(design: NailDesignIn) -> str:
    """The image prompt for a design's settings."""
    colors = f" in {', '.join(design.colors)}" if design.colors else ""
    return (
        f"Close-up photo of a manicure: {design.length} {design.shape} nails, "
        f"{design.finish} finish{colors}. {design.prompt}"
    )


def add_nail_design(app: bb.Backburner, providers: ProviderSet) -> None:
    """Register ``nail_design``."""

    @app.task(timeout="3m", attempts=2, backoff="2s", cost=design_cost, refund=True)
    async def nail_design(ctx: bb.Context, design: NailDesignIn) -> NailDesignOut:
        """Generate a tab's designs."""
        prompt = design_prompt(design)

        async def generate() -> list[str]:
            await ctx.progress(None, f"Designing {design.variations} × {design.shape} nails…")
            async with providers.open_images() as images:
                made = await images.generate(prompt, n=design.variations, size=providers.image_size)
            return [
                await ctx.save_artifact(
                    artifact_name(f"design-{i}", image.media_type), image.data, image.media_type
                )
                for i, image in enumerate(made, 1)
            ]

        # One step: a retry after a crash does not pay for the images again.
        return NailDesignOut(images=await ctx.step("images", generate), prompt=prompt)
