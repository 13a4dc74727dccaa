"""`HotPaths` answers plain submits and reads itself: exactly as the routes would.

A query string sends a request to the routes instead (``?via=router``, a parameter no route
reads), so each case is asked both ways and the answers compared.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pydantic import TypeAdapter

from backburner.api import hotpaths
from backburner.api.schemas import JobPublic
from tests.api.conftest import Keys

ROUTER = "?via=router"
JSON = {"Content-Type": "application/json"}


def _same(fast: httpx.Response, routed: httpx.Response) -> None:
    assert fast.status_code == routed.status_code, (fast.text, routed.text)
    assert fast.headers["content-type"] == routed.headers["content-type"]
    assert fast.content == routed.content


async def test_a_read_is_the_routes_answer_byte_for_byte(
    client: httpx.AsyncClient, keys: Keys
) -> None:
    body = {"kind": "story", "input": {"prompt": "a cat"}, "scope": "s", "priority": 3}
    made = await client.post("/v1/jobs", json=body, headers=keys.alice)
    assert made.status_code == 202
    path = f"/v1/jobs/{made.json()['id']}"
    fast = await client.get(path, headers=keys.alice)
    _same(fast, await client.get(path + ROUTER, headers=keys.alice))
    # …which is what FastAPI's response_model=JobPublic makes of the job.
    job = TypeAdapter(JobPublic).validate_json(fast.content)
    assert fast.content == TypeAdapter(JobPublic).dump_json(job)
    assert made.content == fast.content  # the submit's answer: the same job, the same bytes


async def test_a_submit_through_either_answers_alike(client: httpx.AsyncClient, keys: Keys) -> None:
    body = {"kind": "story", "input": {"prompt": "a dog"}, "dedupe_key": "k"}
    fast = await client.post("/v1/jobs", json=body, headers=keys.alice)
    routed = await client.post("/v1/jobs" + ROUTER, json=body, headers=keys.alice)
    assert (fast.status_code, routed.status_code) == (202, 202)
    assert routed.json() == {**fast.json(), "deduplicated": True}


@pytest.mark.parametrize(
    ("headers", "content"),
    [
        ({}, b'{"kind": "story", "input": {"prompt": "abc"}}'),  # no key
        ({"Authorization": "Bearer bb_nope_nope"}, b'{"kind": "story"}'),  # unknown key
        ({"Authorization": "Basic x"}, b'{"kind": "story"}'),
        ({}, b'{"kind": "story", "kind": "x"}'),  # duplicate key (400 before the 401)
        ({"Content-Type": "text/plain"}, b'{"kind": "story"}'),
        (None, b""),  # no body
        (None, b"[1, 2]"),
        (None, b"null"),
        (None, b'{"kind": "story", "owner": "bob"}'),  # a field no one may set
        (None, b'{"kind": "story", "input": {"prompt": "ab"}}'),  # the kind's input model
        (None, b'{"kind": "nope", "input": {}}'),  # an unknown kind
        (None, b'{"kind": "story", "input": {"prompt": "abc"}, "priority": 2000000}'),
        (None, b'{"kind": "story", "input": "\\u0000"}'),
        (None, b'{"kind": "story", "reuse": "succeeded", "input": {"prompt": "abc"}}'),
    ],
)
async def test_a_bad_submit_gets_the_routes_problem(
    client: httpx.AsyncClient, keys: Keys, headers: dict[str, str] | None, content: bytes
) -> None:
    sent = {**JSON, **keys.alice} if headers is None else {**JSON, **headers}
    fast = await client.post("/v1/jobs", content=content, headers=sent)
    assert fast.status_code >= 400, fast.text
    _same(fast, await client.post("/v1/jobs" + ROUTER, content=content, headers=sent))
    assert fast.headers.get("www-authenticate") == ("Bearer" if fast.status_code == 401 else None)


@pytest.mark.parametrize("who", ["bob", "admin", "nobody", "bad"])
async def test_reading_a_job_answers_alike_for_every_caller(
    client: httpx.AsyncClient, keys: Keys, who: str
) -> None:
    made = await client.post(
        "/v1/jobs", json={"kind": "story", "input": {"prompt": "mine"}}, headers=keys.alice
    )
    callers: dict[str, dict[str, Any]] = {
        "bob": keys.bob,  # another owner: 404, as if it did not exist
        "admin": keys.admin,
        "nobody": {},
        "bad": {"Authorization": "Bearer bb_x_y"},
    }
    for path in (f"/v1/jobs/{made.json()['id']}", "/v1/jobs/no-such-job"):
        fast = await client.get(path, headers=callers[who])
        _same(fast, await client.get(path + ROUTER, headers=callers[who]))


async def test_plain_requests_skip_the_router_and_the_rest_take_it(
    client: httpx.AsyncClient, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken: list[str] = []

    def spy(name: str, real: Any) -> Any:
        def call(*args: Any) -> Any:
            taken.append(name)
            return real(*args)

        return call

    for name in ("submit_response", "read_response"):
        monkeypatch.setattr(hotpaths, name, spy(name, getattr(hotpaths, name)))
    body = {"kind": "story", "input": {"prompt": "abc"}}
    job_id = (await client.post("/v1/jobs", json=body, headers=keys.alice)).json()["id"]
    await client.get(f"/v1/jobs/{job_id}", headers=keys.alice)
    assert taken == ["submit_response", "read_response"]
    await client.post("/v1/jobs" + ROUTER, json=body, headers=keys.alice)
    await client.get(f"/v1/jobs/{job_id}?wait=1", headers=keys.alice)
    await client.head(f"/v1/jobs/{job_id}", headers=keys.alice)
    await client.get(f"/v1/jobs/{job_id}/webhooks", headers=keys.alice)
    assert taken == ["submit_response", "read_response"]
