"""`Client` against a real `backburner serve` process (ASGITransport is async-only)."""

from __future__ import annotations

import pytest

import backburner as bb
from backburner.errors import Unauthorized

pytestmark = pytest.mark.slow


def test_submit_read_and_list(server: tuple[str, str]) -> None:
    url, key = server
    with bb.Client(url, key) as client:
        done = client.submit("chapter", {"entry": "Dear diary, the sea"}, wait=30)
        assert done.status == bb.JobStatus.SUCCEEDED and done.output == {"title": "Dear diary, "}
        assert client.get(done.id) == done
        assert done.id in {j.id for j in client.list(status="succeeded").jobs}
        assert [j.id for j in client.get_many([done.id])] == [done.id]
        assert "chapter" in [k["name"] for k in client.kinds()]
        first = client.submit("chapter", {}, idempotency_key="req-1")
        assert client.submit("chapter", {}, idempotency_key="req-1").id == first.id


def test_wait_reports_progress(server: tuple[str, str]) -> None:
    url, key = server
    seen: list[bb.Job] = []
    with bb.Client(url, key) as client:
        job = client.submit("chapter", {"entry": "slowly", "seconds": 2})
        finished = client.wait(job.id, timeout=30, on_change=seen.append)
    assert finished.status == bb.JobStatus.SUCCEEDED and seen[-1] == finished
    assert any(j.status == "running" and j.progress == 0.3 for j in seen), seen


def test_cancel_retry_delete_and_errors(server: tuple[str, str]) -> None:
    url, key = server
    with bb.Client(url, key) as client:
        job = client.submit("chapter", {"seconds": "not a number"}, wait=30)
        assert job.status == bb.JobStatus.FAILED, job
        with pytest.raises(bb.InvalidTransition):
            client.cancel(job.id)
        assert client.retry(job.id).id == job.id
        client.delete(job.id)
        with pytest.raises(bb.JobNotFound):
            client.get(job.id)
    with bb.Client(url, "bb_nope_nope") as stranger, pytest.raises(Unauthorized):
        stranger.get(job.id)
