"""Media outputs kept as artifacts: images (seeds 001, 003) and video clips (001, 002).

A clip's prediction is *created* inside a ``ctx.step``: a worker that dies while polling leaves
its id behind, and the next attempt polls the same prediction instead of paying for a new
one. A prediction that fails is followed by a new one (``tries`` in all, each a step of its
own, so a replay skips the failed ones after one poll). The finished clip is downloaded at
once (providers' output URLs expire) and saved as the job's artifact.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

import backburner as bb
from backburner.providers import (
    InvalidOutput,
    Prediction,
    PredictionCanceled,
    PredictionFailed,
    PredictionProvider,
    ProgressCallback,
)

__all__ = ["Clip", "artifact_name", "make_clip", "output_url"]

#: File name extensions for the media types image and video models answer with.
_EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/webp": "webp",
    "image/gif": "gif",
    "video/mp4": "mp4",
    "video/webm": "webm",
}


def artifact_name(stem: str, media_type: str) -> str:
    """An artifact's file name: ``portrait`` and ``image/png`` → ``portrait.png``."""
    return f"{stem}.{_EXTENSIONS.get(media_type, 'bin')}"


class Clip(BaseModel):
    """A finished clip: the artifact URL it is served at, and the provider's prediction."""

    video_url: str
    prediction_id: str
    content_type: str


async def make_clip(
    ctx: bb.Context,
    videos: PredictionProvider,
    name: str,
    prompt: dict[str, Any],
    on_progress: ProgressCallback,
    *,
    tries: int = 2,
) -> Clip:
    """Create (once per job and try), wait for and save the clip ``name`` (``scene-3``,
    ``video``). Raises the last `PredictionFailed` when all ``tries`` predictions failed."""
    done = await _predict(ctx, videos, name, prompt, on_progress, tries)
    response = await videos.request("GET", output_url(done.output))
    content_type = response.headers.get("content-type", "video/mp4").split(";")[0].strip()
    url = await ctx.save_artifact(artifact_name(name, content_type), response.content, content_type)
    return Clip(video_url=url, prediction_id=done.id, content_type=content_type)


async def _predict(
    ctx: bb.Context,
    videos: PredictionProvider,
    name: str,
    prompt: dict[str, Any],
    on_progress: ProgressCallback,
    tries: int,
) -> Prediction:
    for number in range(1, tries + 1):
        raw = await ctx.step(f"{name}:prediction-{number}", _create, videos, prompt)
        try:
            return await videos.wait(Prediction.from_json(raw), on_progress=on_progress)
        except PredictionCanceled:
            raise  # someone canceled it on purpose: do not start another
        except PredictionFailed:
            if number == tries:
                raise
    raise ValueError(f"tries must be at least 1, got {tries}")


async def _create(videos: PredictionProvider, prompt: dict[str, Any]) -> dict[str, Any]:
    # What the step stores: the whole answer, so `Prediction.from_json` can rebuild it.
    return dict((await videos.create(prompt)).raw)


def output_url(output: Any) -> str:
    """The clip's URL in a prediction's output: a URL, or the first of a list of them."""
    if isinstance(output, list) and output:
        output = output[0]
    if not isinstance(output, str) or not output.startswith(("http://", "https://")):
        raise InvalidOutput(f"the prediction's output is not a URL: {output!r:.200}")
    return output
