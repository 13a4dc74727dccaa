"""Internal: PostgreSQL's ``LISTEN`` connection, in a thread of its own, waking waiters.

Every event insert sends ``pg_notify`` on the schema's channel (`postgres_dialect`); one
listener per process turns those into wake-ups for idle workers and waiting streams, on any
node. It reconnects by itself, and wakes everyone after each (re)connection: changes made
while nobody listened were not announced.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql as pgsql

from .waiters import Waiters

__all__ = ["Listener"]

log = logging.getLogger(__name__)

#: How often the thread looks up from waiting to see whether it should stop.
_STOP_CHECK_S = 0.5
#: With no notification for this long, check that the connection is alive.
_ALIVE_CHECK_S = 10.0


class Listener:
    """``LISTEN`` on ``channel`` (a function of the connection: the schema's may be known
    only to the server) and wake ``waiters`` at every notification, until `stop`."""

    def __init__(
        self,
        connect: Callable[[], psycopg.Connection[Any]],
        channel: Callable[[psycopg.Connection[Any]], str],
        waiters: Waiters,
        where: str,
    ) -> None:
        self._connect, self._channel, self._waiters, self._where = connect, channel, waiters, where
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bb-postgres-listen", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop listening (within about half a second) and close the connection."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=_STOP_CHECK_S * 4)

    def _run(self) -> None:
        pause = 0.1
        while not self._stopping.is_set():
            listened = False
            try:
                with self._connect() as conn:
                    channel = self._channel(conn)
                    conn.execute(pgsql.SQL("LISTEN {}").format(pgsql.Identifier(channel)))
                    listened = True
                    self._waiters.wake()
                    self._relay(conn)
            except Exception as exc:  # whatever it was, the listener must not die: retry
                if self._stopping.is_set():
                    return
                pause = 0.1 if listened else pause  # it was lost, not refused: retry soon
                log.warning(
                    "not listening for changes (retrying in %.1fs): %s",
                    pause,
                    first_line(exc),
                    extra={"action": "listen_failed", "database": self._where},
                )
            self._stopping.wait(pause)
            pause = min(pause * 2, 5.0)

    def _relay(self, conn: psycopg.Connection[Any]) -> None:
        """Wake waiters at each notification until stopped or the connection fails."""
        quiet_s = 0.0
        while not self._stopping.is_set():
            woken = False
            for _notify in conn.notifies(timeout=_STOP_CHECK_S):
                self._waiters.wake()
                woken = True
            quiet_s = 0.0 if woken else quiet_s + _STOP_CHECK_S
            if quiet_s >= _ALIVE_CHECK_S:  # a quiet spell: is the server still there?
                conn.execute("SELECT 1")
                quiet_s = 0.0


def first_line(exc: BaseException) -> str:
    """An error's message, first line only (the rest of libpq's is context)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
