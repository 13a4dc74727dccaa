"""`fair_share.allocate`: the next slot to the owner with the fewest running, within limits."""

from __future__ import annotations

from backburner.storage import ClaimLimits, ClaimRequest
from backburner.storage.fair_share import Head, Running, allocate


def heads(owner: str, count: int, kind: str = "k") -> list[Head]:
    return [Head(f"{owner}{i}", owner, kind) for i in range(count)]


def ids(chosen: list[Head]) -> list[str]:
    return [h.id for h in chosen]


ALL = [ClaimRequest(("k", "video"), 100)]


def test_the_owner_with_fewer_running_jobs_goes_first() -> None:
    running = Running.of([("a", "k", 4)])
    candidates = {"a": heads("a", 10), "b": heads("b", 1)}
    chosen = allocate(candidates, ["a", "b"], running, ClaimLimits(), ALL, 1)
    assert ids(chosen) == ["b0"]


def test_slots_go_round_the_owners_in_turn_each_in_its_own_order() -> None:
    chosen = allocate(
        {"a": heads("a", 5), "b": heads("b", 5), "c": heads("c", 1)},
        ["b", "c", "a"],
        Running(),
        ClaimLimits(),
        ALL,
        6,
    )
    assert ids(chosen) == ["b0", "c0", "a0", "b1", "a1", "b2"]


def test_a_lone_owner_gets_every_slot() -> None:
    assert ids(allocate({"a": heads("a", 5)}, ["a"], Running(), ClaimLimits(), ALL, 3)) == [
        "a0",
        "a1",
        "a2",
    ]


def test_a_kinds_global_concurrency_counts_every_workers_jobs() -> None:
    running = Running.of([("x", "video", 3)])
    limits = ClaimLimits(kind_running={"video": 4})
    candidates = {"a": heads("a", 3, "video") + heads("a", 2, "k")}
    chosen = allocate(candidates, ["a"], running, limits, ALL, 10)
    assert [h.kind for h in chosen] == ["video", "k", "k"]


def test_owner_limits_overall_and_per_kind() -> None:
    running = Running.of([("a", "k", 2)])
    limits = ClaimLimits(owner_running=3, owner_kind_running={"video": 1})
    candidates = {"a": heads("a", 3), "b": heads("bv", 3, "video") + heads("bk", 3)}
    for owner_heads in candidates.values():
        owner_heads[:] = [Head(h.id, h.id[0], h.kind) for h in owner_heads]
    chosen = allocate(candidates, ["a", "b"], running, limits, ALL, 10)
    # b: one video at most, then k; a: one more (3 in all); then b's third
    assert ids(chosen) == ["bv0", "bk0", "a0", "bk1"]


def test_each_request_keeps_its_own_room() -> None:
    requests = [ClaimRequest(("video",), 1), ClaimRequest(("k",), 5)]
    candidates = {"a": [Head("v1", "a", "video"), Head("v2", "a", "video"), Head("k1", "a", "k")]}
    chosen = allocate(candidates, ["a"], Running(), ClaimLimits(), requests, 10)
    assert ids(chosen) == ["v1", "k1"]


def test_kinds_no_request_asks_for_are_left() -> None:
    requests = [ClaimRequest(("k",), 5)]
    candidates = {"a": [Head("v1", "a", "video"), Head("k1", "a", "k")]}
    assert ids(allocate(candidates, ["a"], Running(), ClaimLimits(), requests, 5)) == ["k1"]
