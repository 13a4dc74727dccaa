"""Internal: the fake provider's knobs and the state its server shares with the test thread.

The server runs on its own thread (or process); tests turn knobs from theirs, so everything
here that changes is guarded by one lock.
"""

from __future__ import annotations

import hashlib
import itertools
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["FakePrediction", "FakeRequest", "FakeState", "Fault", "Knobs", "seeded"]

Rate = float
#: One scripted answer: an HTTP status (200 answers normally) or ``"hang"`` (never answers).
Scripted = int | Literal["hang"]


class Knobs(BaseModel):
    """How the fake provider behaves; every knob can be changed while it runs.

    Fault rates are drawn per request (`/v1` endpoints, not file downloads) from a generator
    seeded by ``seed``, so a run with the same seed and the same requests fails the same way.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Fixes every random choice: outputs (per prompt) and the order of injected faults.
    seed: int = 0
    #: Seconds added before every answer.
    latency_s: float = Field(default=0.0, ge=0)
    #: Fraction of requests answered 502 (an nginx HTML page) or 503 (JSON), alternately.
    error_rate: Rate = Field(default=0.0, ge=0, le=1)
    #: Fraction of requests answered 429 with ``Retry-After``.
    rate_limit_rate: Rate = Field(default=0.0, ge=0, le=1)
    #: The ``Retry-After`` seconds sent with 429 and 503 (``None``: no header).
    retry_after_s: float | None = Field(default=1.0, ge=0)
    #: Send ``Retry-After`` as an HTTP-date rather than seconds.
    retry_after_http_date: bool = False
    #: Fraction of requests that never answer (until the client gives up).
    hang_rate: Rate = Field(default=0.0, ge=0, le=1)
    #: Fraction of chat replies asked for JSON that are broken JSON.
    invalid_json_rate: Rate = Field(default=0.0, ge=0, le=1)
    #: Fraction of JSON chat replies wrapped in a ```json fenced block, as models often do.
    fence_rate: Rate = Field(default=0.0, ge=0, le=1)
    #: Answers for the next requests, in order, before any rate applies: ``[503, 429, 200]``.
    fail_next: list[Scripted] = Field(default_factory=list)
    #: When set, requests must carry ``Authorization: Bearer <api_key>`` (else 401).
    api_key: str | None = None
    #: Polls a prediction takes to finish: it reports (k / steps) after the k-th poll.
    prediction_steps: int = Field(default=3, ge=0, le=1_000_000)
    #: Fraction of predictions that end ``failed``.
    prediction_failure_rate: Rate = Field(default=0.0, ge=0, le=1)

    @model_validator(mode="after")
    def _rates_fit(self) -> Knobs:
        if self.hang_rate + self.error_rate + self.rate_limit_rate > 1:
            raise ValueError("hang_rate + error_rate + rate_limit_rate must not exceed 1")
        return self


@dataclass(frozen=True)
class Fault:
    """What to do instead of answering: a status to answer with, or hang."""

    status: int = 200
    hang: bool = False


@dataclass
class FakeRequest:
    """One request the fake provider saw, and the status it answered (``None`` if none)."""

    method: str
    path: str
    status: int | None = None
    #: ``time.monotonic()`` when it arrived.
    at: float = field(default_factory=time.monotonic)


@dataclass
class FakePrediction:
    """A prediction the fake is running: it advances one step per poll."""

    id: str
    input: dict[str, Any]
    fails: bool
    polls: int = 0
    status: str = "starting"
    created_at: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class FakeState:
    """The knobs, the request log and the predictions, shared across threads."""

    def __init__(self, knobs: Knobs) -> None:
        self._lock = threading.Lock()
        self._knobs = knobs
        self._faults = random.Random(knobs.seed)
        self._pending = list(knobs.fail_next)
        self._ids = itertools.count(1)
        self._requests: list[FakeRequest] = []
        #: Predictions by id.
        self.predictions: dict[str, FakePrediction] = {}
        #: What each image URL draws: (prompt, (width, height), index) by file id.
        self.images: dict[str, tuple[str, tuple[int, int], int]] = {}
        #: Set when the server stops: hanging requests give up.
        self.stopping = threading.Event()

    @property
    def knobs(self) -> Knobs:
        """The knobs in force."""
        return self._knobs

    def set_knobs(self, **changes: Any) -> Knobs:
        """Change some knobs (validated); a new ``seed`` or ``fail_next`` starts over."""
        with self._lock:
            knobs = Knobs.model_validate({**self._knobs.model_dump(), **changes})
            if "seed" in changes:
                self._faults = random.Random(knobs.seed)
            if "fail_next" in changes:
                self._pending = list(knobs.fail_next)
            self._knobs = knobs
            return knobs

    def reset(self, knobs: Knobs) -> None:
        """Start over with ``knobs``: no requests, predictions or images, ids from the top."""
        with self._lock:
            self._knobs = knobs
            self._faults = random.Random(knobs.seed)
            self._pending = list(knobs.fail_next)
            self._ids = itertools.count(1)
            self._requests.clear()
            self.predictions.clear()
            self.images.clear()

    def next_fault(self) -> Fault | None:
        """The fault for the next `/v1` request: the scripted one, else drawn from the rates."""
        with self._lock:
            if self._pending:
                scripted = self._pending.pop(0)
                return Fault(hang=True) if scripted == "hang" else Fault(status=scripted)
            knobs, draw = self._knobs, self._faults.random()
            if draw < knobs.hang_rate:
                return Fault(hang=True)
            draw -= knobs.hang_rate
            if draw < knobs.error_rate:
                return Fault(status=502 if self._faults.random() < 0.5 else 503)
            if draw - knobs.error_rate < knobs.rate_limit_rate:
                return Fault(status=429)
            return None

    def chance(self, rate: float) -> bool:
        """True with probability ``rate`` (from the seeded fault generator)."""
        if rate <= 0 or rate >= 1:  # no draw: a knob at 0 must not shift the fault sequence
            return rate >= 1
        with self._lock:
            return self._faults.random() < rate

    def new_id(self, prefix: str) -> str:
        """A fresh id, the same sequence for the same seed."""
        with self._lock:
            n = next(self._ids)
            seed = self._knobs.seed
        return prefix + hashlib.sha256(f"{seed}:{prefix}:{n}".encode()).hexdigest()[:20]

    def add_prediction(self, prediction: FakePrediction) -> None:
        """Start tracking a prediction."""
        with self._lock:
            self.predictions[prediction.id] = prediction

    def prediction_statuses(self) -> dict[str, str]:
        """Each prediction's status, by id."""
        with self._lock:
            return {p.id: p.status for p in self.predictions.values()}

    def record(self, method: str, path: str) -> FakeRequest:
        """Log a request as it arrives; its status is filled in when the answer starts."""
        entry = FakeRequest(method, path)
        with self._lock:
            self._requests.append(entry)
        return entry

    def requests(self) -> list[FakeRequest]:
        """Every request so far, oldest first."""
        with self._lock:
            return list(self._requests)


def seeded(seed: int, *parts: object) -> random.Random:
    """A generator fixed by ``seed`` and ``parts`` (a prompt …): the same output every run,
    whatever order requests come in."""
    text = "\x1f".join(str(p) for p in (seed, *parts))
    return random.Random(int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big"))
