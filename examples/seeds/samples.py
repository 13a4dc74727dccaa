"""Sample requests `backburner demo` submits so the dashboard has something to show: what
each seed app's users ask for, with the scopes and dedupe keys those apps would use.

Each is ``(kind, input, submit options)``. The demo submits them in order, as the demo owner.
"""

from __future__ import annotations

from typing import Any

from .chapter_audio import audio_key
from .characters import portrait_key, video_key

__all__ = ["DEMO_SAMPLES"]

Sample = tuple[str, dict[str, Any], dict[str, Any]]

_SHOW = "show-7"
_CHARACTERS = [
    ("ada", "Ada", "a lighthouse keeper in her sixties, oilskin coat, silver braid"),
    ("bram", "Bram", "a tired ferryman with a kind face, navy wool cap"),
    ("cyra", "Cyra", "a young cartographer, ink on her fingers, red scarf"),
]
_CHAPTER_TEXT = (
    "The rain had not stopped for three days. Mara stood at the end of the pier, where the "
    "boards gave way to black water, and listened to the harbour breathe.\n\n"
    "Somewhere behind her a door opened and closed. She did not turn around. There would be "
    "time for faces later; for now there was only the lantern, swinging, and the sea."
)


def _chapters() -> list[Sample]:
    entries = [
        "Walked to the harbour in the rain. Nobody else was out. I felt lost, then oddly calm.",
        "Finally finished the garden fence! Mia brought lemonade at noon and we laughed a lot.",
    ]
    return [("chapter", {"journal_entry": e}, {"scope": "novel:1"}) for e in entries]


def _show() -> list[Sample]:
    # Loading the show: one portrait per character, reusing any already painted; Ada's is
    # asked for twice (a second tab) and gets the same job back.
    portraits: list[Sample] = [
        (
            "portrait",
            {"show_id": _SHOW, "character_id": cid, "name": name, "description": looks},
            {"scope": f"show:{_SHOW}", "dedupe_key": portrait_key(cid), "reuse": "succeeded"},
        )
        for cid, name, looks in [*_CHARACTERS, _CHARACTERS[0]]
    ]
    cid, name, looks = _CHARACTERS[0]
    video: Sample = (
        "character_video",
        {"show_id": _SHOW, "character_id": cid, "name": name, "description": looks},
        {"scope": f"show:{_SHOW}", "dedupe_key": video_key(cid)},
    )
    return [*portraits, video]


def _studio() -> list[Sample]:
    script = (
        "A fox wakes at dawn in a frosted meadow. She crosses the frozen river, step by "
        "careful step. The ice cracks beneath her. She leaps to the far bank. Spring "
        "arrives in the valley, and the fox sleeps in the sun."
    )
    return [("script_video", {"script": script, "max_scenes": 5}, {"scope": "project:fox"})]


def _nails() -> list[Sample]:
    tabs = [
        ("Design 1", "teal waves with gold foil accents", ["teal", "gold"], 2),
        ("Design 2", "tiny white daisies on a pale pink base", ["pink", "white"], 1),
    ]
    return [
        (
            "nail_design",
            {"prompt": prompt, "tab": tab, "colors": colors, "variations": n},
            {"scope": "studio"},
        )
        for tab, prompt, colors, n in tabs
    ]


def _audio() -> list[Sample]:
    data = {"novel_id": "1", "chapter_number": 1, "title": "The Pier", "text": _CHAPTER_TEXT}
    return [("chapter_audio", data, {"scope": "novel:1", "dedupe_key": audio_key("1", 1)})]


#: The demo's sample requests, in the order a user would make them.
DEMO_SAMPLES: list[Sample] = [*_chapters(), *_show(), *_studio(), *_nails(), *_audio()]
