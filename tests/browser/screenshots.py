"""Screenshots of the pages for ``docs/screenshots/``, rewritten only when the page looks
different: the operator's page shows clocks ("2 s ago", a lease's time left) that change on
every run, and a test run should not leave the working tree changed for that. Toasts are
hidden in them."""

from __future__ import annotations

from io import BytesIO

from PIL import Image, ImageChops
from playwright.sync_api import Page

from tests.api.test_real_server import ROOT

__all__ = ["SHOTS", "save_screenshot"]

#: Where the screenshots go (the README shows the main ones).
SHOTS = ROOT / "docs" / "screenshots"
#: The share of pixels that may change before a saved screenshot is replaced.
_UNCHANGED = 0.01
#: Toasts come and go with timing (whether the page saw a job end or loaded it ended), so
#: they are left out: a screenshot shows the cards, the same on every run.
_TRANSIENT = ".toasts { visibility: hidden !important; }"


def save_screenshot(page: Page, name: str) -> None:
    """The whole page as ``SHOTS / name``, unless the saved one looks the same."""
    png = page.screenshot(full_page=True, animations="disabled", style=_TRANSIENT)
    path = SHOTS / name
    if path.exists() and _looks_the_same(path.read_bytes(), png):
        return
    SHOTS.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png)


def _looks_the_same(saved: bytes, new: bytes) -> bool:
    with Image.open(BytesIO(saved)) as before, Image.open(BytesIO(new)) as after:
        if before.size != after.size:
            return False
        difference = ImageChops.difference(before.convert("RGB"), after.convert("RGB"))
        unchanged = difference.convert("L").histogram()[0]
        return 1 - unchanged / (after.width * after.height) < _UNCHANGED
