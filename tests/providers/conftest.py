"""Fixtures: one fake provider on a loopback port per module, reset for each test, and
clients of it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from backburner.fakeprovider import FakeProvider, start_fake_provider
from backburner.providers import ChatProvider


@pytest.fixture(scope="module")
def fake_server() -> Iterator[FakeProvider]:
    """The running fake provider (stopping one takes a tenth of a second or two: share it)."""
    with start_fake_provider() as provider:
        yield provider


@pytest.fixture
def fake(fake_server: FakeProvider) -> FakeProvider:
    """The fake provider as if just started: seed 0, no faults until a test turns a knob."""
    fake_server.reset(seed=0)
    return fake_server


@pytest.fixture
async def chat(fake: FakeProvider) -> AsyncIterator[ChatProvider]:
    """A chat client of `fake` with a short timeout."""
    async with ChatProvider(fake.config(timeout_s=2)) as client:
        yield client
