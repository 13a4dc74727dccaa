"""Submit the same dedupe keys as other copies of this script, all at once.

``python -m tests.apps.dedupe_submitter DB_URL GO_FILE KEYS`` opens the app (so every copy
is connected and migrated before the race), prints ``ready``, waits until ``GO_FILE``
exists, then submits one ``sleepy`` job per key ``key-0 … key-{KEYS-1}`` with the sync API
and prints ``<key> <job id> <deduplicated>`` for each.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import backburner as bb
from tests.apps.acceptance_app import build_app

_READY_TIMEOUT_S = 60.0


def main(db_url: str, go_file: str, keys: int) -> None:
    app = build_app(bb.Settings(database_url=db_url))
    with bb.SyncBackburner(app) as jobs:
        jobs.list(limit=1)  # connect (and migrate) before the race
        print("ready", flush=True)  # noqa: T201 - the parent reads stdout
        deadline = time.monotonic() + _READY_TIMEOUT_S
        while not Path(go_file).exists():
            if time.monotonic() > deadline:
                raise SystemExit("never told to go")
            time.sleep(0.002)
        for number in range(keys):
            key = f"key-{number}"
            job = jobs.submit("sleepy", {"ms": 0}, dedupe_key=key)
            print(key, job.id, job.deduplicated, flush=True)  # noqa: T201


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
