"""A worker frozen past its lease writes nothing once it wakes: the lease token fences it."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

import backburner as bb
from tests.acceptance.conftest import PATIENCE, Workers, status_events, worker_pid
from tests.apps.acceptance_app import read_records
from tests.conftest import eventually, wait_status

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("then", ["writes", "returns"])
async def test_worker_paused_past_its_lease_writes_nothing_after_the_reclaim(
    bb_app: bb.Backburner, workers: Workers, tmp_path: Path, then: str
) -> None:
    """Worker 1 is SIGSTOPped mid-job; worker 2 reclaims the job and finishes it; worker 1
    is resumed with SIGCONT and its handler at once (before its worker can learn that the
    lease is gone) either writes progress and a partial, or returns so its worker writes
    the finish. The fence refuses all of it: no event after the reclaim comes from worker
    1, nothing changes after worker 2's finish, and the output is worker 2's.
    """
    log, gate = str(tmp_path / "chatty.log"), tmp_path / "gate"
    rounds = 6 if then == "writes" else 1
    first = await workers.start_ready(lease="1.5s")
    job = await bb_app.submit(
        "chatty",
        {
            "rounds": 6,
            "round_ms": 200,
            "log": log,
            "gate": str(gate),
            "return_at_gate": then == "returns",
        },
    )

    async def blocked_after_round_one() -> bool:
        return ["gated", str(first.pid), "2"] in [r[1:] for r in read_records(log)]

    await eventually(blocked_after_round_one, timeout=PATIENCE)
    await first.freeze(workers.db_path)
    gate.touch()
    second = workers.start(lease="1.5s")
    done = await wait_status(bb_app, job.id, bb.JobStatus.SUCCEEDED, timeout=PATIENCE)
    events_before_resume = await bb_app.events(job.id)

    first.send(signal.SIGCONT)
    await first.wait_log(f"job {job.id} dropped: its lease was taken over", timeout=PATIENCE)
    await eventually(lambda: _handler_stopped(log, first.pid), timeout=PATIENCE)
    mine = [r[1] for r in read_records(log) if int(r[2]) == first.pid]
    if then == "writes":
        assert mine[-2:] == ["writing", "stopped"], "worker 1 never tried to write again"
    else:
        assert mine[-1] == "returned", mine

    events = await bb_app.events(job.id)
    assert events == events_before_resume, "worker 1 wrote after it was resumed"
    reclaim = next(e.seq for e in events if e.data.get("reason") == "lease_expired")
    after = [e for e in events if e.seq > reclaim]
    claims = [e.data for e in events if e.data.get("status") == "running"]
    assert [worker_pid(c["worker"]) for c in claims] == [first.pid, second.pid]
    assert all(f"pid {first.pid} " not in (e.data.get("message") or "") for e in after)
    assert all(e.data.get("value") != {"pid": first.pid} for e in after if e.type == "partial")
    assert any(e.type == "progress" for e in after)
    assert done.output == {"pid": second.pid}
    assert done.message == f"pid {second.pid} round {rounds}"
    assert done.partial == {f"round-{n}": {"pid": second.pid} for n in range(1, rounds + 1)}
    assert [e["status"] for e in await status_events(bb_app, job.id)] == [
        "queued", "running", "queued", "running", "succeeded",
    ]  # fmt: skip
    assert first.alive, "worker 1 should keep running after losing the job"


async def _handler_stopped(log: str, pid: int) -> bool:
    """Worker 1's handler has ended one way or another (returned, or was stopped)."""
    return any(r[1] in ("stopped", "returned") and int(r[2]) == pid for r in read_records(log))
