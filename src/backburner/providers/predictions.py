"""Create-then-poll prediction APIs (Replicate-style): create, poll with backoff, cancel.

```python
videos = PredictionProvider.from_env()     # REPLICATE_BASE_URL, REPLICATE_API_TOKEN, _MODEL

@app.task(timeout="10m", attempts=3)
async def scene(ctx: bb.Context, data: SceneIn) -> SceneOut:
    done = await videos.run({"prompt": data.text}, on_progress=ctx.progress)
    return SceneOut(video_url=done.output)
```

`run` creates a prediction (``POST {base_url}/predictions`` → ``{id, status, urls: {get,
cancel}}``) and polls its ``urls.get`` with capped exponential backoff until it is
``succeeded``, ``failed`` or ``canceled``, reporting progress (the ``progress`` field, or the
last ``NN%`` in ``logs``) to a callback such as ``ctx.progress``. When the waiting task is
cancelled (the job was canceled or timed out) it cancels the remote prediction, best effort.
Transient errors while polling (5xx, 429, timeouts) are absorbed up to ``max_errors`` in a
row: the prediction keeps running remotely, and polling again is free.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from .base import HttpProvider, ProviderConfig
from .errors import (
    InvalidOutput,
    PredictionCanceled,
    PredictionFailed,
    ProviderError,
    ProviderTimeout,
    clip,
)

__all__ = [
    "PollPolicy",
    "Prediction",
    "PredictionProvider",
    "ProgressCallback",
    "poll_delays",
    "progress_span",
]

log = logging.getLogger(__name__)

#: Called with (fraction 0–1 or ``None``, message): ``ctx.progress`` fits; may be sync.
ProgressCallback = Callable[[float | None, str | None], Awaitable[None] | None]

REPLICATE_BASE_URL = "https://api.replicate.com/v1"
SUCCEEDED = frozenset({"succeeded", "successful", "completed", "complete"})
FAILED = frozenset({"failed", "error", "errored"})
CANCELED = frozenset({"canceled", "cancelled", "aborted"})
_MESSAGES = {
    "starting": "Waiting for the provider…",
    "queued": "Waiting for the provider…",
    **dict.fromkeys(SUCCEEDED, "Generated"),
}
_PERCENT = re.compile(r"(\d{1,3}(?:\.\d+)?)\s*%")
#: Seconds a best-effort cancel may take before we stop waiting for it.
_CANCEL_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class PollPolicy:
    """How to poll a prediction: the delay starts at ``first_s`` and grows by ``factor`` up
    to ``max_s``; ``max_errors`` transient errors in a row are tolerated; after ``timeout_s``
    (``None``: the job's own timeout is the limit) the prediction is canceled."""

    first_s: float = 1.0
    factor: float = 1.5
    max_s: float = 10.0
    max_errors: int = 5
    timeout_s: float | None = None


@dataclass(frozen=True)
class Prediction:
    """A prediction as the provider last described it."""

    id: str
    #: ``starting``, ``processing``, ``succeeded``, ``failed``, ``canceled`` (or the
    #: provider's own words, e.g. ``queued``, ``dreaming``, ``completed``).
    status: str
    #: What it made (a URL, a list of URLs …), once it succeeded.
    output: Any = None
    #: The provider's reason, when it failed.
    error: str | None = None
    logs: str = ""
    #: ``get`` and ``cancel`` URLs, when the provider gives them.
    urls: Mapping[str, str] = field(default_factory=dict, hash=False)
    #: The whole answer.
    raw: Mapping[str, Any] = field(default_factory=dict, hash=False, repr=False)

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Prediction:
        """Read a provider's answer; `InvalidOutput` when it has no id or status."""
        status = body.get("status", body.get("state"))
        if not isinstance(body.get("id"), str) or not isinstance(status, str):
            raw = str(dict(body))
            raise InvalidOutput(f"the prediction answer has no id or status: {clip(raw)}", raw=raw)
        urls = body.get("urls")
        error = body.get("error", body.get("failure_reason"))
        return cls(
            id=body["id"],
            status=status.lower(),
            output=body.get("output"),
            error=None if error is None else str(error),
            logs=str(body.get("logs") or ""),
            urls={k: v for k, v in urls.items() if isinstance(v, str)}
            if isinstance(urls, dict)
            else {},
            raw=dict(body),
        )

    @property
    def done(self) -> bool:
        """Whether it has ended: succeeded, failed or canceled."""
        return self.status in SUCCEEDED | FAILED | CANCELED

    @property
    def progress(self) -> float | None:
        """How far along it is, 0–1: its ``progress`` field, else the last ``NN%`` in its
        logs, 1 once it succeeded, ``None`` when unknown."""
        if self.status in SUCCEEDED:
            return 1.0
        value = self.raw.get("progress")
        if isinstance(value, int | float) and not isinstance(value, bool):
            return _fraction(float(value) / 100 if value > 1 else float(value))
        found = _PERCENT.findall(self.logs)
        return _fraction(float(found[-1]) / 100) if found else None


class PredictionProvider(HttpProvider):
    """A create-then-poll prediction API; ``path`` is the collection (``predictions``)."""

    def __init__(
        self,
        config: ProviderConfig,
        *,
        client: httpx.AsyncClient | None = None,
        path: str = "predictions",
        poll: PollPolicy | None = None,
    ) -> None:
        super().__init__(config, client=client)
        self.path = path.strip("/")
        #: The default polling policy of `wait` and `run`.
        self.poll = poll or PollPolicy()

    @classmethod
    def from_env(
        cls,
        prefix: str = "REPLICATE",
        *,
        base_url: str = REPLICATE_BASE_URL,
        model: str | None = None,
        poll: PollPolicy | None = None,
    ) -> PredictionProvider:
        """A provider configured by ``{prefix}_BASE_URL``, ``_API_TOKEN`` (or ``_API_KEY``),
        ``_MODEL`` (sent as ``version``) and ``_TIMEOUT_S``."""
        return cls(ProviderConfig.from_env(prefix, base_url=base_url, model=model), poll=poll)

    async def create(
        self,
        input: Mapping[str, Any],
        *,
        version: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Prediction:
        """Start a prediction of ``input``; ``version`` defaults to the config's ``model``."""
        body: dict[str, Any] = {"input": dict(input)}
        version = version or self.config.model
        if version is not None:
            body["version"] = version
        body.update(extra or {})
        return Prediction.from_json(await self.request_json("POST", self.path, json=body))

    async def get(self, prediction: Prediction | str) -> Prediction:
        """The prediction as it is now."""
        return Prediction.from_json(await self.request_json("GET", self._url(prediction, "get")))

    async def cancel(self, prediction: Prediction | str) -> Prediction:
        """Ask the provider to stop the prediction."""
        url = self._url(prediction, "cancel")
        body = await self.request_json("POST", url, timeout_s=_CANCEL_TIMEOUT_S)
        return Prediction.from_json(body)

    async def run(
        self,
        input: Mapping[str, Any],
        *,
        version: str | None = None,
        on_progress: ProgressCallback | None = None,
        poll: PollPolicy | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Prediction:
        """`create`, then `wait`: the succeeded prediction, or the error it ended with."""
        prediction = await self.create(input, version=version, extra=extra)
        return await self.wait(prediction, on_progress=on_progress, poll=poll)

    async def wait(
        self,
        prediction: Prediction,
        *,
        on_progress: ProgressCallback | None = None,
        poll: PollPolicy | None = None,
    ) -> Prediction:
        """Poll until the prediction ends; the succeeded prediction, else `PredictionFailed`
        / `PredictionCanceled`. Cancelling the waiting task cancels the prediction too."""
        policy = poll or self.poll
        tracker = _Tracker(prediction, on_progress)
        try:
            async with asyncio.timeout(policy.timeout_s):
                await self._poll(tracker, policy)
        except TimeoutError as exc:
            await self._cancel_quietly(tracker.latest)
            message = f"prediction {prediction.id} did not finish within {policy.timeout_s:g}s"
            raise ProviderTimeout(message) from exc
        except asyncio.CancelledError:
            await self._cancel_quietly(tracker.latest)
            raise
        return _finished(tracker.latest)

    async def _poll(self, tracker: _Tracker, policy: PollPolicy) -> None:
        delays = poll_delays(policy)
        errors = 0
        pause = 0.0
        await tracker.report()
        while not tracker.latest.done:
            await asyncio.sleep(max(next(delays), pause))
            try:
                tracker.latest = await self.get(tracker.latest)
            except ProviderError as exc:
                errors += 1
                if not exc.retryable or errors > policy.max_errors:
                    raise
                pause = exc.retry_after_s or 0.0
                continue
            errors, pause = 0, 0.0
            await tracker.report()

    async def _cancel_quietly(self, prediction: Prediction) -> None:
        if prediction.done:
            return
        try:
            await self.cancel(prediction)
        except ProviderError as exc:
            # Best effort: the caller is already on its way out with its own error.
            log.warning(
                "could not cancel prediction %s: %s",
                prediction.id,
                exc,
                extra={"action": "prediction_cancel_failed", "prediction_id": prediction.id},
            )

    def _url(self, prediction: Prediction | str, action: str) -> str:
        if isinstance(prediction, Prediction) and prediction.urls.get(action):
            return prediction.urls[action]
        prediction_id = prediction.id if isinstance(prediction, Prediction) else prediction
        suffix = "/cancel" if action == "cancel" else ""
        return f"{self.path}/{prediction_id}{suffix}"


class _Tracker:
    """The latest state of a prediction, reporting progress only when it changes."""

    def __init__(self, prediction: Prediction, on_progress: ProgressCallback | None) -> None:
        self.latest = prediction
        self._on_progress = on_progress
        self._reported: tuple[float | None, str] | None = None

    async def report(self) -> None:
        if self._on_progress is None:
            return
        fraction = self.latest.progress
        message = _MESSAGES.get(self.latest.status, "Generating…")
        if self._reported == (fraction, message) or self.latest.status in FAILED | CANCELED:
            return
        self._reported = (fraction, message)
        result = self._on_progress(fraction, message)
        if inspect.isawaitable(result):
            await result


def poll_delays(policy: PollPolicy) -> Iterator[float]:
    """The waits between polls: ``first_s``, then ``factor`` times more each time, capped."""
    delay = policy.first_s
    while True:
        yield min(delay, policy.max_s)
        delay = min(delay * policy.factor, policy.max_s)


def progress_span(
    report: ProgressCallback, start: float, end: float, message: str | None = None
) -> ProgressCallback:
    """A callback mapping a prediction's 0–1 onto ``start``–``end`` of a bigger job (and
    replacing its message): ``progress_span(ctx.progress, 2/7, 3/7, "Scene 3/7…")``."""

    async def scaled(fraction: float | None, text: str | None) -> None:
        value = start if fraction is None else start + (end - start) * fraction
        result = report(_fraction(value), message or text)
        if inspect.isawaitable(result):
            await result

    return scaled


def _finished(prediction: Prediction) -> Prediction:
    if prediction.status in SUCCEEDED:
        return prediction
    reason = prediction.error or "no reason given"
    if prediction.status in CANCELED:
        raise PredictionCanceled(
            f"prediction {prediction.id} was canceled: {clip(reason)}", prediction_id=prediction.id
        )
    raise PredictionFailed(
        f"prediction {prediction.id} failed: {clip(reason)}", prediction_id=prediction.id
    )


def _fraction(value: float) -> float:
    return min(max(value, 0.0), 1.0)
