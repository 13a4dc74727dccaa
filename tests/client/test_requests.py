"""What the clients send and how they read odd answers, over `httpx.MockTransport`."""

from __future__ import annotations

import httpx
import pytest

import backburner as bb
from backburner.errors import ApiRequestError

JOB = {
    "id": "j1", "kind": "story", "owner": "alice", "status": "queued",
    "created_at": "2025-01-01T00:00:00Z", "updated_at": "2025-01-01T00:00:00Z",
    "run_at": "2025-01-01T00:00:00Z", "slow_at": "2025-01-01T00:01:00Z",
    "expire_at": "2025-01-02T00:00:00Z",
}  # fmt: skip


def test_submit_sends_the_key_and_the_headers() -> None:
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(202, json=JOB)

    with bb.Client("http://bb.test/", "bb_k_s", transport=httpx.MockTransport(answer)) as client:
        job = client.submit("story", {"prompt": "cat"}, wait=5, idempotency_key="req-1")
    assert job.id == "j1"
    (request,) = sent
    assert (request.method, request.url.path) == ("POST", "/v1/jobs")
    assert request.headers["Authorization"] == "Bearer bb_k_s"
    assert (request.headers["Prefer"], request.headers["Idempotency-Key"]) == ("wait=5", "req-1")


def test_list_sends_repeated_statuses_and_booleans() -> None:
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={"jobs": [JOB], "next_cursor": None})

    with bb.Client("http://bb.test", "k", transport=httpx.MockTransport(answer)) as client:
        assert [j.id for j in client.list(status=["queued", "running"], active=False).jobs] == [
            "j1"
        ]
    params = sent[0].url.params
    assert params.get_list("status") == ["queued", "running"] and params["active"] == "false"


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (503, {"status": 503, "detail": "database is locked"}, bb.StorageError),
        (413, {"status": 413, "detail": "input too large"}, bb.InputTooLarge),
        (400, {"status": 400, "detail": "wait: must be 1–60 seconds"}, ApiRequestError),
        (502, None, bb.NotBackburner),  # a proxy's HTML page, not problem+json
    ],
)
def test_other_answers_become_errors(
    status: int, body: dict[str, object] | None, error: type[Exception]
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if body is None:
            return httpx.Response(status, text="<html>Bad gateway</html>")
        return httpx.Response(status, json=body)

    with bb.Client("http://bb.test", "k", transport=httpx.MockTransport(answer)) as client:
        with pytest.raises(error) as raised:
            client.get("j1")
    if isinstance(raised.value, ApiRequestError):
        assert raised.value.status == status


def test_a_rate_limit_is_rate_limited_with_the_retry_after_seconds() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        body = {"type": "/problems/rate-limited", "status": 429, "detail": "retry in 7 s"}
        return httpx.Response(429, json=body, headers={"Retry-After": "7"})

    with bb.Client("http://bb.test", "k", transport=httpx.MockTransport(answer)) as client:
        with pytest.raises(bb.RateLimited, match="retry in 7 s") as raised:
            client.submit("story", {"prompt": "cat"})
    assert raised.value.retry_after_s == 7
    assert isinstance(raised.value, bb.LimitExceeded)


def test_a_key_that_cannot_be_a_header_is_refused_without_echoing_it() -> None:
    for key in ("bb_x\nsecret", "bb x", ""):
        with pytest.raises(bb.ConfigError, match="api_key") as caught:
            bb.Client("http://bb.test", key)
        assert "secret" not in str(caught.value)


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (502, "<html><h1>Bad gateway</h1>\n<p>nginx</p></html>", "HTTP 502, not problem"),
        (200, "<html>a login page</html>", "did not answer like a backburner server"),
        (200, '{"not": "a job"}', "did not answer like a backburner server"),
    ],
)
def test_answers_from_something_else_are_library_errors_without_the_raw_body(
    status: int, body: str, message: str
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, text=body)

    with bb.Client("http://bb.test", "bb_k", transport=httpx.MockTransport(answer)) as client:
        with pytest.raises(bb.NotBackburner, match=message) as caught:
            client.get("j1")
    assert "<html>" not in str(caught.value) and caught.value.status == status
