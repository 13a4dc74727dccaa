"""An app that imports in `backburner serve` itself but not in the API processes it starts
(``--processes N``): for the test that a process failing to start stops the whole serve."""

from __future__ import annotations

import multiprocessing

import backburner as bb

if multiprocessing.parent_process() is not None:  # an API process (spawned), not serve itself
    raise RuntimeError("this app cannot start in an API process")

app = bb.Backburner()  # BACKBURNER_DATABASE_URL from the test
