"""Internal: job ids and lease tokens."""

from __future__ import annotations

import os
import threading
import time
import uuid

__all__ = ["new_job_id", "new_token"]

_lock = threading.Lock()
_last = [0, 0]  # last millisecond, counter within it


def new_job_id() -> str:
    """A UUIDv7 string: ids sort by creation time, so newest-first is ``ORDER BY id DESC``."""
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last[0]:
            ms, counter = _last[0], _last[1] + 1
            if counter > 0xFFF:  # 4,096 ids in one millisecond: borrow the next one
                ms, counter = ms + 1, 0
        else:
            counter = int.from_bytes(os.urandom(2), "big") & 0x1FF
        _last[0], _last[1] = ms, counter
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76 | (counter & 0xFFF) << 64
    value |= 0b10 << 62 | int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    return str(uuid.UUID(int=value))


def new_token() -> str:
    """A random lease token: the fence on every write a worker makes for a claimed job."""
    return uuid.uuid4().hex
