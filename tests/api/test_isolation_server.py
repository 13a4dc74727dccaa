"""The owner-isolation matrix against one real `backburner serve` process.

Every route that takes a job id answers another owner's job (or, for a browser token scoped
to ``s1``, its owner's job in ``s2``) exactly as it answers a missing id, and changes nothing;
lists, batch status and scope streams never show such jobs; admin keys see everything. The
matrix is checked against the server's own ``/openapi.json``, so a new job route without an
isolation case fails here.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest

from tests.api.realserver import (
    RealServer,
    job_in_state,
    make_keys,
    query,
    read_sse,
    settle,
    snapshot,
)
from tests.api.test_real_server import serving

pytestmark = pytest.mark.slow

ENV = {"BACKBURNER_LEASE": "1h", "BACKBURNER_GRACE": "0"}  # no heartbeat writes; quick stop
MISSING = "01900000-0000-7000-8000-000000000000"  # shaped like a job id, never made
#: Input that makes each status: ``chapter`` sleeps ``seconds`` (a word fails it).
STATES: dict[str, dict[str, Any]] = {
    "succeeded": {},
    "running": {"seconds": 600},
    "failed": {"seconds": "soon"},
}
DEDUPE = {"s1-succeeded": "d1", "s1-running": "d-run", "s2-succeeded": "d2"}


def chapter(scope: str | None, dedupe_key: str | None = None, **data: Any) -> dict[str, Any]:
    body = {"kind": "chapter", "input": {"entry": "isolation", **data}, "scope": scope}
    return {**body, "dedupe_key": dedupe_key} if dedupe_key else body


def mint(server: RealServer, who: str, body: dict[str, str]) -> str:
    made = server.http.post("/v1/tokens", json=body, headers=server.auth(who))
    assert made.status_code == 201, made.text
    token: str = made.json()["token"]
    return token


@pytest.fixture(scope="module")
def iso(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealServer]:
    """Alice's jobs in every status in scopes s2 then s1, then bob's in s1 (so his events are
    the newest); a token of alice's for s1, an unscoped one of bob's, and an admin key."""
    tmp = tmp_path_factory.mktemp("isolation")
    with serving(tmp, env=ENV) as (url, auth, _proc):
        db = tmp / "serve.db"
        keys = {"alice": auth["Authorization"].removeprefix("Bearer ")}
        server = RealServer(url, db, {**keys, **make_keys(db, "bob", admin="ops")})
        try:
            for scope in ("s2", "s1"):
                for status, data in STATES.items():
                    label = f"{scope}-{status}"
                    body = chapter(scope, DEDUPE.get(label), **data)
                    server.jobs[label] = job_in_state(server, "alice", body, status)
            bobs = chapter("s1", "d1")
            server.jobs["bob-s1-succeeded"] = job_in_state(server, "bob", bobs, "succeeded")
            server.keys["token-s1"] = mint(server, "alice", {"scope": "s1"})
            server.keys["bob-token"] = mint(server, "bob", {})
            yield server
        finally:
            server.close()


# ── callers and what they may see ──────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Caller:
    """A credential (a key or token name), sent as a header or as ``?access_token=``."""

    credential: str
    #: The scope whose alice jobs this caller must not see.
    forbidden: str
    query: bool = False

    def sees(self, job: dict[str, Any]) -> bool:
        """Whether this caller may see ``job``: bob's credentials his own, alice's s1 token
        her jobs in s1."""
        if self.credential.startswith("bob"):
            return bool(job["owner"] == "bob")
        return bool(job["owner"] == "alice" and job["scope"] == "s1")

    def request(self, server: RealServer, method: str, path: str, **kw: Any) -> httpx.Response:
        """``path`` (with its query) as this caller."""
        route, _, qs = path.partition("?")
        params: list[tuple[str, str | int | float | bool | None]] = [*parse_qsl(qs)]
        headers: dict[str, str] = {}
        if self.query:
            params.append(("access_token", server.keys[self.credential]))
        else:
            headers = server.auth(self.credential)
        return server.http.request(method, route, params=params, headers=headers, **kw)


CALLERS = {
    "bob": Caller("bob", "s1"),
    "bob-token": Caller("bob-token", "s1"),
    "alice-s1-token": Caller("token-s1", "s2"),
    "alice-s1-token-in-query": Caller("token-s1", "s2", query=True),
}


def everything(server: RealServer, path: str) -> list[dict[str, Any]]:
    """What the admin key sees at ``path`` (a list of jobs)."""
    seen = server.http.get(path, headers=server.auth("ops"))
    assert seen.status_code == 200, seen.text
    jobs: list[dict[str, Any]] = seen.json()["jobs"]
    return jobs


# ── routes that take a job id ──────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Route:
    """A job route as OpenAPI names it, and which of alice's jobs it is tried on: one it
    would change if it let the caller through."""

    method: str
    path: str
    target: str
    query: str = ""


ROUTES = {
    "get": Route("GET", "/v1/jobs/{job_id}", "succeeded"),
    "get-wait": Route("GET", "/v1/jobs/{job_id}", "running", "wait=5"),
    "events": Route("GET", "/v1/jobs/{job_id}/events", "succeeded"),
    "cancel": Route("POST", "/v1/jobs/{job_id}/cancel", "running"),
    "retry": Route("POST", "/v1/jobs/{job_id}/retry", "failed"),
    "delete": Route("DELETE", "/v1/jobs/{job_id}", "succeeded"),
    "webhook-deliveries": Route("GET", "/v1/jobs/{job_id}/webhooks", "succeeded"),
    "log": Route("GET", "/v1/jobs/{job_id}/log", "succeeded"),
    "artifact": Route("GET", "/v1/jobs/{job_id}/artifacts/{name}", "succeeded"),
}


def test_the_matrix_covers_every_job_route(iso: RealServer) -> None:
    paths: dict[str, dict[str, Any]] = iso.http.get("/openapi.json").json()["paths"]
    served = {
        (method.upper(), path)
        for path, operations in paths.items()
        if path.startswith("/v1/") and "{job_id}" in path
        for method in operations
        if method in {"get", "put", "post", "patch", "delete"}
    }
    assert served == {(r.method, r.path) for r in ROUTES.values()}


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("route", ROUTES)
def test_a_job_the_caller_may_not_see_answers_exactly_like_a_missing_one(
    iso: RealServer, route: str, caller: str
) -> None:
    how, who = ROUTES[route], CALLERS[caller]
    job_id = iso.jobs[f"{who.forbidden}-{how.target}"]
    path = how.path.replace("{name}", "cover.png") + (f"?{how.query}" if how.query else "")
    before = settle(iso)
    started = time.monotonic()
    denied = who.request(iso, how.method, path.replace("{job_id}", job_id), timeout=10)
    took = time.monotonic() - started
    absent = who.request(iso, how.method, path.replace("{job_id}", MISSING), timeout=10)
    assert snapshot(iso.db) == before, "the job (or anything else) changed"
    assert denied.status_code == absent.status_code == 404, denied.text
    assert denied.headers["content-type"] == "application/problem+json"
    assert denied.text.replace(job_id, "<id>") == absent.text.replace(MISSING, "<id>")
    assert _headers(denied) == _headers(absent)
    assert took < 4, "it waited (wait=5) on a job it may not see"
    owner_view = iso.http.get(f"/v1/jobs/{job_id}", headers=iso.auth("alice"))
    assert owner_view.status_code == 200 and owner_view.json()["status"] == how.target


def _headers(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k != "date"}


# ── lists, batch status and scope streams ──────────────────────────────────────────────────

FILTERS = [
    "",
    "scope=s1",
    "status=succeeded",
    "status=running",
    "status=failed&status=succeeded",
    "kind=chapter",
    "dedupe_key=d1",
    "active=true",
    "active=false",
    "cursor={s1-failed}",
    "limit=1000",
    "scope=s1&status=succeeded&kind=chapter&dedupe_key=d1&active=false&limit=5",
]


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("filters", FILTERS)
def test_lists_show_only_what_the_caller_may_see(
    iso: RealServer, filters: str, caller: str
) -> None:
    who, path = CALLERS[caller], iso.fill(f"/v1/jobs?{filters}")
    everyone = everything(iso, path)
    assert any(not who.sees(job) for job in everyone), "the filter matches no hidden job"
    listed = who.request(iso, "GET", path)
    assert listed.status_code == 200, listed.text
    assert listed.json()["jobs"] == [job for job in everyone if who.sees(job)]


@pytest.mark.parametrize("caller", CALLERS)
def test_batch_status_leaves_out_jobs_the_caller_may_not_see(iso: RealServer, caller: str) -> None:
    ids = [*iso.jobs.values(), MISSING]
    everyone = iso.http.post("/v1/jobs/batch", json={"ids": ids}, headers=iso.auth("ops"))
    assert [job["id"] for job in everyone.json()["jobs"]] == ids[:-1]  # the admin sees all
    who = CALLERS[caller]
    seen = who.request(iso, "POST", "/v1/jobs/batch", json={"ids": ids})
    assert seen.status_code == 200, seen.text
    assert seen.json()["jobs"] == [job for job in everyone.json()["jobs"] if who.sees(job)]


def _events(iso: RealServer) -> list[tuple[int, dict[str, Any]]]:
    """Every event id with its job's owner and scope, from the database."""
    rows = query(iso.db, "SELECT e.id, j.owner, j.scope FROM events e JOIN jobs j ON j.id = "
                 "e.job_id ORDER BY e.id")  # fmt: skip
    return [(event_id, {"owner": owner, "scope": scope}) for event_id, owner, scope in rows]


@pytest.mark.parametrize("caller", CALLERS)
def test_the_scope_stream_shows_only_what_the_caller_may_see(iso: RealServer, caller: str) -> None:
    who, events = CALLERS[caller], _events(iso)
    shown = [i for i, job in events if job["scope"] == "s1" and who.sees(job)]
    assert any(i < shown[-1] and not who.sees(job) for i, job in events)  # interleaved
    path = "/v1/events?" + urlencode(
        {"scope": "s1", **({"access_token": iso.keys[who.credential]} if who.query else {})}
    )
    headers = {} if who.query else iso.auth(who.credential)
    frames = read_sse(iso.http, path, headers, shown[-1])
    assert [i for i, _ in frames] == shown
    visible = {job["id"] for job in everything(iso, "/v1/jobs?limit=1000") if who.sees(job)}
    assert {data["job_id"] for _, data in frames} <= visible


@pytest.mark.parametrize("caller", ["alice-s1-token", "alice-s1-token-in-query"])
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/v1/jobs?scope=s2", None),
        ("GET", "/v1/events?scope=s2", None),
        ("POST", "/v1/jobs", chapter("s2")),
        ("POST", "/v1/tokens", {"scope": "s2"}),
    ],
)
def test_a_scoped_token_cannot_reach_another_scope(
    iso: RealServer, caller: str, method: str, path: str, body: dict[str, Any] | None
) -> None:
    before = settle(iso)
    refused = CALLERS[caller].request(iso, method, path, json=body)
    assert refused.status_code == 403, refused.text
    assert refused.json()["type"] == "/problems/forbidden"
    assert snapshot(iso.db) == before


def test_another_owners_key_cannot_mint_a_token_for_alice(iso: RealServer) -> None:
    before = settle(iso)
    refused = iso.http.post("/v1/tokens", json={"owner": "alice"}, headers=iso.auth("bob"))
    assert refused.status_code == 403, refused.text
    assert snapshot(iso.db) == before


def test_the_admin_sees_every_owners_jobs_and_events(iso: RealServer) -> None:
    for job_id in iso.jobs.values():
        assert iso.http.get(f"/v1/jobs/{job_id}", headers=iso.auth("ops")).status_code == 200
    listed = {job["id"] for job in everything(iso, "/v1/jobs?limit=1000")}
    assert set(iso.jobs.values()) <= listed
    assert {job["owner"] for job in everything(iso, "/v1/jobs?owner=alice")} == {"alice"}
    alices = [i for i, job in _events(iso) if job == {"owner": "alice", "scope": "s1"}]
    frames = read_sse(iso.http, "/v1/events?scope=s1&owner=alice", iso.auth("ops"), alices[-1])
    assert [i for i, _ in frames] == alices


def test_dedupe_and_idempotency_keys_never_reach_another_owners_job(iso: RealServer) -> None:
    first = iso.http.post(
        "/v1/jobs", json=chapter(None), headers={**iso.auth("alice"), "Idempotency-Key": "k1"}
    )
    assert first.status_code == 202, first.text
    alices = first.json()
    tries = [
        (chapter(None, "d-run"), {}),  # alice's running job has it
        ({**chapter(None, "d2"), "reuse": "succeeded"}, {}),  # alice's succeeded job has it
        (chapter(None), {"Idempotency-Key": "k1"}),
    ]
    for body, headers in tries:
        made = iso.http.post("/v1/jobs", json=body, headers={**iso.auth("bob"), **headers})
        assert made.status_code == 202, made.text
        job = made.json()
        assert job["owner"] == "bob" and job["id"] not in {alices["id"], *iso.jobs.values()}
    settle(iso)
