"""Internal: the fake's Replicate-like predictions, and the files its answers link to.

A prediction advances one step per poll (``GET``), not with the clock, so tests are quick and
repeatable: ``starting`` → ``processing`` (logs ``33%|███ | 1/3``) → ``succeeded`` (the
output is the URL of an animated GIF) or ``failed`` after ``prediction_steps`` polls.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from .knobs import FakePrediction, FakeState
from .media import animation_gif, picture_png

__all__ = ["PredictionRequest", "file_routes", "prediction_routes"]

_TERMINAL = frozenset({"succeeded", "failed", "canceled"})
_FAILURE = "CUDA out of memory. Tried to allocate 2.00 GiB (the fake's prediction_failure_rate)"


class PredictionRequest(BaseModel):
    """A prediction to create: ``input`` (its ``prompt`` is what the clip is drawn from)."""

    model_config = ConfigDict(extra="allow")

    input: dict[str, Any]
    version: str | None = None


def prediction_routes(router: APIRouter, state: FakeState) -> None:
    """Add the prediction endpoints to ``router`` (mounted at ``/v1``)."""

    @router.post("/predictions", status_code=201)
    async def create(body: PredictionRequest, request: Request) -> dict[str, Any]:
        prediction = FakePrediction(
            id=state.new_id("p"),
            input=body.input,
            fails=state.chance(state.knobs.prediction_failure_rate),
            created_at=datetime.now(UTC).isoformat(),
            extra={"version": body.version},
        )
        state.add_prediction(prediction)
        return _as_json(prediction, request, state.knobs.prediction_steps)

    @router.get("/predictions/{prediction_id}")
    async def get(prediction_id: str, request: Request) -> Response:
        prediction = state.predictions.get(prediction_id)
        if prediction is None:
            return _not_found(prediction_id)
        steps = state.knobs.prediction_steps
        _advance(prediction, steps)
        return JSONResponse(_as_json(prediction, request, steps))

    @router.post("/predictions/{prediction_id}/cancel")
    async def cancel(prediction_id: str, request: Request) -> Response:
        prediction = state.predictions.get(prediction_id)
        if prediction is None:
            return _not_found(prediction_id)
        if prediction.status not in _TERMINAL:
            prediction.status = "canceled"
        return JSONResponse(_as_json(prediction, request, state.knobs.prediction_steps))


def file_routes(state: FakeState) -> APIRouter:
    """The files answers link to: ``images/{id}.png`` and ``predictions/{id}.gif``."""
    router = APIRouter()

    @router.get("/images/{file_id}.png")
    async def image(file_id: str) -> Response:
        found = state.images.get(file_id)
        if found is None:
            return JSONResponse({"detail": "no such file"}, status_code=404)
        prompt, size, index = found
        png = await asyncio.to_thread(picture_png, prompt, size, state.knobs.seed, index)
        return Response(png, media_type="image/png")

    @router.get("/predictions/{prediction_id}.gif")
    async def clip(prediction_id: str) -> Response:
        prediction = state.predictions.get(prediction_id)
        if prediction is None or prediction.status != "succeeded":
            return JSONResponse({"detail": "no such file"}, status_code=404)
        prompt = str(prediction.input.get("prompt", ""))
        gif = await asyncio.to_thread(animation_gif, prompt, state.knobs.seed)
        return Response(gif, media_type="image/gif")

    return router


def _advance(prediction: FakePrediction, steps: int) -> None:
    if prediction.status in _TERMINAL:
        return
    prediction.polls += 1
    if prediction.polls >= steps:
        prediction.status = "failed" if prediction.fails else "succeeded"
    else:
        prediction.status = "processing"


def _as_json(prediction: FakePrediction, request: Request, steps: int) -> dict[str, Any]:
    origin = str(request.base_url).rstrip("/")
    url = f"{origin}/v1/predictions/{prediction.id}"
    succeeded = prediction.status == "succeeded"
    return {
        "id": prediction.id,
        "version": prediction.extra.get("version"),
        "input": prediction.input,
        "status": prediction.status,
        "output": f"{origin}/v1/files/predictions/{prediction.id}.gif" if succeeded else None,
        "error": _FAILURE if prediction.status == "failed" else None,
        "logs": _logs(min(prediction.polls, steps), steps),
        "created_at": prediction.created_at,
        "urls": {"get": url, "cancel": f"{url}/cancel"},
    }


def _logs(done: int, steps: int) -> str:
    """tqdm-style progress lines, as Replicate's models print them."""
    lines = []
    for k in range(1, done + 1):
        filled = 10 * k // max(steps, 1)
        bar = "█" * filled + " " * (10 - filled)
        lines.append(f"{100 * k // max(steps, 1):3d}%|{bar}| {k}/{steps}")
    return "\n".join(lines)


def _not_found(prediction_id: str) -> Response:
    body = {"title": "Not Found", "detail": f"Prediction {prediction_id} not found.", "status": 404}
    return JSONResponse(body, status_code=404)
