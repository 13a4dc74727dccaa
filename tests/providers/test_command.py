"""``backburner fake-provider``: a real process in the foreground, printing its URL."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from backburner.providers import ChatProvider, ProviderConfig, RateLimited

_SCRIPT = shutil.which("backburner", path=str(Path(sys.executable).parent))
COMMAND = [_SCRIPT] if _SCRIPT else [sys.executable, "-m", "backburner.cli"]
ENV = {k: v for k, v in os.environ.items() if not k.startswith("BACKBURNER_")}


async def test_the_command_serves_until_interrupted_and_prints_its_url() -> None:
    args = ["fake-provider", "--port", "0", "--seed", "4", "--rate-limit-rate", "1"]
    with subprocess.Popen(
        [*COMMAND, *args], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        try:
            assert process.stdout is not None
            banner = process.stdout.readline()
            url = banner.strip().rsplit(" ", 1)[-1]
            assert banner.startswith("fake AI provider (not a model) on http://127.0.0.1:")
            assert url.endswith("/v1")
            async with ChatProvider(ProviderConfig(base_url=url)) as chat:
                try:
                    await chat.complete("Hello")
                except RateLimited as exc:
                    assert exc.retry_after_s == 1.0
                else:
                    raise AssertionError("--rate-limit-rate 1 answers every request with 429")
            knobs = httpx.get(f"{url.removesuffix('/v1')}/_fake/knobs").json()
            assert (knobs["seed"], knobs["rate_limit_rate"]) == (4, 1.0)
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=10)
    assert process.returncode in (0, 130)


def test_impossible_knobs_are_refused() -> None:
    args = ["fake-provider", "--error-rate", "0.7", "--hang-rate", "0.7"]
    done = subprocess.run(
        [*COMMAND, *args], env=ENV, capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 2
    assert "invalid knobs: Value error, hang_rate + error_rate + rate_limit_rate" in done.stderr
