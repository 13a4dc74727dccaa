"""Internal: which queued jobs a claim starts — fair across owners, within every limit.

The claim hands out its slots one at a time to the owner with the fewest jobs running (those
already running plus those this claim starts), ties going round the owners in turn; each
owner's own jobs go highest priority first, then oldest. So when owner A has 1,000 jobs queued
and owner B submits one, B's job starts as soon as a slot frees, not after A's backlog.

Limits: each request's own (a worker's per-kind room), a kind's concurrency across all workers,
and an owner's running jobs overall and per kind. Pure: the SQL that feeds it is in
`claim_sql` and the dialects.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .records import ClaimRequest

__all__ = ["NO_LIMITS", "ClaimLimits", "Head", "Running", "allocate"]


@dataclass(frozen=True)
class ClaimLimits:
    """The limits a claim keeps to, beyond the worker's own."""

    #: Most jobs of a kind running at once, across every worker (`KindPolicy.concurrency`).
    kind_running: Mapping[str, int] = field(default_factory=dict)
    #: Most jobs one owner has running at once, all kinds together.
    owner_running: int | None = None
    #: Most jobs of a kind one owner has running at once (`KindPolicy.owner_concurrency`).
    owner_kind_running: Mapping[str, int] = field(default_factory=dict)

    @property
    def strict(self) -> bool:
        """Whether claims must not overlap (several workers could overshoot a count)."""
        return bool(self.kind_running or self.owner_running or self.owner_kind_running)


#: No limits beyond the worker's own.
NO_LIMITS = ClaimLimits()


@dataclass(frozen=True)
class Head:
    """A queued job a claim may start: its id and what the limits look at."""

    id: str
    owner: str
    kind: str


@dataclass
class Running:
    """Jobs running now, counted by owner, by kind and by both."""

    by_owner: Counter[str] = field(default_factory=Counter)
    by_kind: Counter[str] = field(default_factory=Counter)
    by_owner_kind: Counter[tuple[str, str]] = field(default_factory=Counter)

    @classmethod
    def of(cls, rows: Sequence[tuple[str, str, int]]) -> Running:
        """From ``(owner, kind, count)`` rows."""
        running = cls()
        for owner, kind, count in rows:
            running.add(owner, kind, count)
        return running

    def add(self, owner: str, kind: str, count: int = 1) -> None:
        """Count ``count`` more running jobs of ``kind`` for ``owner``."""
        self.by_owner[owner] += count
        self.by_kind[kind] += count
        self.by_owner_kind[owner, kind] += count


def allocate(
    heads: Mapping[str, Sequence[Head]],
    order: Sequence[str],
    running: Running,
    limits: ClaimLimits,
    requests: Sequence[ClaimRequest],
    limit: int,
) -> list[Head]:
    """Up to ``limit`` of ``heads`` (each owner's candidates, in the owner's own order), the
    next slot always to the owner with the fewest running, ties in ``order``."""
    request_of = {kind: i for i, request in enumerate(requests) for kind in request.kinds}
    request_room = [request.limit for request in requests]
    turns = [(running.by_owner[owner], rank, owner) for rank, owner in enumerate(order)]
    heapq.heapify(turns)
    taken: dict[str, int] = Counter()
    chosen: list[Head] = []
    while turns and len(chosen) < limit:
        load, rank, owner = heapq.heappop(turns)
        if limits.owner_running is not None and load >= limits.owner_running:
            continue  # this owner has all it may run
        candidates = heads.get(owner, ())
        while taken[owner] < len(candidates):
            head = candidates[taken[owner]]
            taken[owner] += 1
            request = request_of.get(head.kind)
            if request is not None and request_room[request] > 0 and _fits(head, running, limits):
                chosen.append(head)
                request_room[request] -= 1
                running.add(head.owner, head.kind)
                heapq.heappush(turns, (load + 1, rank, owner))
                break
    return chosen


def _fits(head: Head, running: Running, limits: ClaimLimits) -> bool:
    """Whether starting ``head`` keeps its kind's and its owner's per-kind limits."""
    kind_cap = limits.kind_running.get(head.kind)
    if kind_cap is not None and running.by_kind[head.kind] >= kind_cap:
        return False
    owner_cap = limits.owner_kind_running.get(head.kind)
    return owner_cap is None or running.by_owner_kind[head.owner, head.kind] < owner_cap
