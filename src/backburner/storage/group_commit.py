"""Internal: group commit — the writes that queue while one transaction runs share the next.

SQLite makes one commit durable with an fsync (``synchronous=FULL``): a few milliseconds that
bound a process to a few hundred commits a second, however many requests wait. Here every write
of the process goes through one thread; when several are waiting, they run in one transaction,
each in its own savepoint (a unit that fails rolls back alone and raises to its own caller),
and each caller hears back only after the shared COMMIT — as durable as one commit each.

A write may also name a batch form of its unit (``many``): consecutive queued writes with the
same one run as one call in one savepoint (plain submits: one multi-row insert instead of a
statement, a savepoint and an event insert each). Should that call fail, each of its writes
runs again in a savepoint of its own, so only the write at fault fails, with its own error.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import OperationalError

from ..errors import StorageError

__all__ = ["GroupCommitter"]

#: Most units in one transaction: bounds how long the write lock is held for other processes.
MAX_BATCH = 64

#: The name of each write's savepoint (one at a time: each is released before the next).
_SAVEPOINT = "bb_write"

Unit = Callable[..., Any]
#: A unit's batch form: ``many(conn, dialect, [args, ...])`` gives one result per ``args``.
Many = Callable[[Connection, Any, list[tuple[Any, ...]]], list[Any]]
#: Runs ``unit(conn, dialect, *args)`` in one transaction: ``(result, changed any row)``.
Transact = Callable[[Unit, tuple[Any, ...]], tuple[Any, bool]]


@dataclass
class _Write:
    unit: Unit
    args: tuple[Any, ...]
    #: Runs in a transaction of its own (a batch already, e.g. a claim of 100 jobs).
    alone: bool
    #: Runs this write together with the consecutive ones that name the same batch form.
    many: Many | None = None
    future: Future[tuple[Any, bool]] = field(default_factory=Future)


class GroupCommitter:
    """One writer thread; concurrent writes are committed together."""

    def __init__(self, transact: Transact, thread_name: str) -> None:
        self._transact = transact
        self._thread = ThreadPoolExecutor(1, thread_name_prefix=thread_name)
        self._lock = threading.Lock()
        self._queue: list[_Write] = []
        self._draining = False

    def submit(
        self, unit: Unit, args: tuple[Any, ...], *, alone: bool = False, many: Many | None = None
    ) -> Future[tuple[Any, bool]]:
        """Queue ``unit``; the future gives ``(result, changed)`` once it is committed.

        ``alone``: never share its transaction. For units that are batches already (a
        claim, a group of finishes): they gain nothing, and would wait on the others.
        ``many``: the batch form of ``unit`` for these ``args`` (see the module's docstring):
        it must give, for each ``args``, what ``unit`` would, or raise.
        """
        write = _Write(unit, args, alone, many)
        with self._lock:
            self._queue.append(write)
            if not self._draining:
                self._draining = True
                self._thread.submit(self._drain)
        return write.future

    def run_alone(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        """Run ``fn`` on the writer thread, between batches (opening, migrating)."""
        return self._thread.submit(fn, *args)

    def shutdown(self) -> None:
        """Finish what is queued, then stop the thread."""
        self._thread.shutdown(wait=True)

    def _drain(self) -> None:
        while True:
            with self._lock:
                size = _next_batch(self._queue)
                batch, self._queue = self._queue[:size], self._queue[size:]
                if not batch:
                    self._draining = False
                    return
            # A caller that gave up (its task was cancelled) cancelled its future: its write
            # is not run, as an executor skips a cancelled item; the rest can no longer be
            # cancelled, so setting their results below cannot fail.
            live = [w for w in batch if w.future.set_running_or_notify_cancel()]
            if live:
                self._commit(live)

    def _commit(self, batch: list[_Write]) -> None:
        if len(batch) == 1:  # alone: no savepoint needed
            write = batch[0]
            try:
                write.future.set_result(self._transact(write.unit, write.args))
            except BaseException as exc:
                write.future.set_exception(exc)
            return
        try:
            outcomes, _ = self._transact(_in_savepoints, (batch,))
        except BaseException as exc:  # the transaction itself failed: nothing was committed
            for write in batch:
                write.future.set_exception(exc)
            return
        for write, (error, result, changed) in zip(batch, outcomes, strict=True):
            if error is not None:
                write.future.set_exception(error)
            else:
                write.future.set_result((result, changed))


def _next_batch(queue: list[_Write]) -> int:
    """How many writes from the head of ``queue`` go in the next transaction: one that runs
    alone, or the shared ones before the next such (at most `MAX_BATCH`)."""
    if not queue:
        return 0
    if queue[0].alone:
        return 1
    size = 1
    while size < min(len(queue), MAX_BATCH) and not queue[size].alone:
        size += 1
    return size


def _in_savepoints(
    conn: Connection, dialect: Any, batch: list[_Write]
) -> list[tuple[BaseException | None, Any, bool]]:
    """Every write of ``batch`` in its own savepoint, or with the consecutive writes of the
    same batch form in one: ``(error, result, changed)`` each.

    The savepoints are plain SQL on the driver's connection: SQLAlchemy's ``begin_nested``
    cost about 260 µs a write (against 46 µs), all of it while the write lock is held.
    """
    raw: Any = conn.connection.dbapi_connection
    outcomes: list[tuple[BaseException | None, Any, bool]] = []
    start = 0
    while start < len(batch):
        many, end = batch[start].many, start + 1
        while many is not None and end < len(batch) and batch[end].many is many:
            end += 1
        run = batch[start:end]
        together = _together(raw, conn, dialect, many, run) if many and len(run) > 1 else None
        if together is not None:
            outcomes.extend(together)
        else:
            outcomes.extend(_alone(raw, conn, dialect, write) for write in run)
        start = end
    return outcomes


def _together(
    raw: Any, conn: Connection, dialect: Any, many: Many, run: list[_Write]
) -> list[tuple[BaseException | None, Any, bool]] | None:
    """``run`` as one call of its batch form in one savepoint; ``None`` (rolled back) if it
    raised: the caller then runs each write alone, and only the faulty one fails."""
    before = raw.total_changes
    raw.execute(f"SAVEPOINT {_SAVEPOINT}")
    try:
        results = many(conn, dialect, [write.args for write in run])
        if len(results) != len(run):
            raise RuntimeError(f"a batch form gave {len(results)} results for {len(run)} writes")
    except BaseException as exc:
        raw.execute(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}")
        raw.execute(f"RELEASE SAVEPOINT {_SAVEPOINT}")
        if not isinstance(exc, Exception):
            raise
        return None
    raw.execute(f"RELEASE SAVEPOINT {_SAVEPOINT}")
    changed = raw.total_changes != before  # for the run as a whole: it is one change here
    return [(None, result, changed) for result in results]


def _alone(
    raw: Any, conn: Connection, dialect: Any, write: _Write
) -> tuple[BaseException | None, Any, bool]:
    """One write in its own savepoint."""
    before = raw.total_changes
    raw.execute(f"SAVEPOINT {_SAVEPOINT}")
    try:
        result = write.unit(conn, dialect, *write.args)
    except BaseException as exc:
        raw.execute(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}")
        raw.execute(f"RELEASE SAVEPOINT {_SAVEPOINT}")
        if not isinstance(exc, Exception):
            raise
        if isinstance(exc, OperationalError):
            exc = StorageError(f"SQLite: {exc.orig}")
        return exc, None, False
    raw.execute(f"RELEASE SAVEPOINT {_SAVEPOINT}")
    return None, result, raw.total_changes != before
