"""Bad input against one real `backburner serve` process: each case answers with its exact
RFC 9457 problem (status, type, title, detail, field paths), never with a traceback or a
secret, and leaves every table of the database exactly as it was."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.api.realserver import (
    RealServer,
    assert_clean,
    job_in_state,
    make_keys,
    raw_post,
    settle,
    snapshot,
)
from tests.api.test_real_server import serving

pytestmark = pytest.mark.slow

TICK_SECRET = "tick-secret-0f3c9a1e5b7d"
MAX_INPUT = 65536
BODY_LIMIT = MAX_INPUT + 64 * 1024
OK_INPUT = {"kind": "chapter", "input": {"entry": "a quiet day"}}
ENV = {
    "BACKBURNER_RATE_LIMIT": "40/h",  # carol runs out in the rate case; alice never does
    "BACKBURNER_TICK_SECRET": TICK_SECRET,
    "BACKBURNER_MAX_INPUT_BYTES": str(MAX_INPUT),
    "BACKBURNER_LEASE": "1h",  # no heartbeat writes while a case runs
    "BACKBURNER_GRACE": "0",  # the running job goes back to the queue at once on shutdown
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealServer]:
    """One server for the module: alice's running and finished jobs exist before any case."""
    tmp = tmp_path_factory.mktemp("bad-input")
    with serving(tmp, env=ENV) as (url, auth, _proc):
        db = tmp / "serve.db"
        alice = auth["Authorization"].removeprefix("Bearer ")
        keys = {"alice": alice, **make_keys(db, "bob", "carol", "mallory", revoked="dave")}
        running = {"kind": "chapter", "input": {"entry": "a long one", "seconds": 600}}
        srv = RealServer(url, db, keys)
        try:
            srv.jobs["finished"] = job_in_state(srv, "alice", OK_INPUT, "succeeded")
            srv.jobs["running"] = job_in_state(srv, "alice", running, "running")
            yield srv
        finally:
            srv.close()


# ── how a case is sent ─────────────────────────────────────────────────────────────────────

TITLES = {
    "invalid-json": "Invalid JSON",
    "invalid-request": "Invalid request",
    "invalid-input": "Invalid input",
    "unsupported-media-type": "Unsupported media type",
    "too-large": "Body too large",
    "unauthorized": "Unauthorized",
    "forbidden": "Forbidden",
    "invalid-wait": "Invalid wait",
    "invalid-event-id": "Invalid Last-Event-ID",
    "not-found": "Not found",
    "conflict": "Not allowed in the job's current state",
    "rate-limited": "Too many requests",
}


@dataclass(frozen=True)
class Case:
    """One bad request and the exact problem it must answer with."""

    name: str
    method: str
    path: str
    status: int
    slug: str
    #: Exact (after `RealServer.fill`), or a pattern the whole detail matches.
    detail: str | re.Pattern[str]
    body: bytes | None = None
    who: str | None = "alice"
    headers: tuple[tuple[str, str], ...] = ()
    #: The field paths of a validation error's ``errors``, in order; none: no ``errors``.
    fields: tuple[str, ...] = ()
    title: str | None = None
    #: Sent but never to be echoed back (a credential, a huge string).
    hidden: str = ""
    send: Callable[[RealServer], httpx.Response] | None = None
    #: Prior state the case needs, made before the snapshot.
    setup: Callable[[RealServer], None] | None = None
    #: A known server bug: the case is a strict xfail until it is fixed.
    bug: str | None = None


def send(server: RealServer, case: Case) -> httpx.Response:
    if case.send is not None:
        return case.send(server)
    headers = {**server.auth(case.who), **{k: server.fill(v) for k, v in case.headers}}
    if case.body is not None and "Content-Type" not in headers:
        headers["Content-Type"] = "application/json"
    return server.http.request(
        case.method, server.fill(case.path), content=case.body, headers=headers
    )


def declared_over_limit(server: RealServer) -> httpx.Response:
    head = [*server.auth("alice").items(), ("Content-Type", "application/json")]
    return raw_post(server, [*head, ("Content-Length", "99999999")], b'{"kind": ')


def chunked_over_limit(server: RealServer) -> httpx.Response:
    def chunks() -> Iterator[bytes]:  # no Content-Length: the size is known only once read
        yield b'{"kind": "chapter", "input": {"entry": "'
        yield from (b"a" * 16384 for _ in range(BODY_LIMIT // 16384 + 1))
        yield b'"}}'

    headers = {**server.auth("alice"), "Content-Type": "application/json"}
    return server.http.post("/v1/jobs", content=chunks(), headers=headers)


def exhaust_carol(server: RealServer) -> None:
    """Spend carol's submissions: only submits that store a job count, so each is deleted
    once made (the count stays)."""
    for _ in range(60):
        made = server.http.post("/v1/jobs", json=OK_INPUT, headers=server.auth("carol"))
        if made.status_code == 429:
            return
        assert made.status_code == 202, made.text
        deleted = server.http.delete(f"/v1/jobs/{made.json()['id']}", headers=server.auth("carol"))
        assert deleted.status_code == 204, deleted.text
    raise AssertionError("the rate limit never applied")


# ── the cases ──────────────────────────────────────────────────────────────────────────────


def js(value: Any) -> bytes:
    return json.dumps(value).encode()


def portrait(**fields: Any) -> bytes:
    return js({"kind": "portrait", "input": fields})


def post(
    name: str, status: int, slug: str, detail: str | re.Pattern[str], body: bytes, **kw: Any
) -> Case:
    """A ``POST /v1/jobs`` case."""
    return Case(name, "POST", "/v1/jobs", status, slug, detail, body, **kw)


def gone(name: str, method: str, raw_id: str, route: str = "", **kw: Any) -> Case:
    """An id the caller may not see answers exactly as a missing one: 404 naming the id."""
    path = f"/v1/jobs/{quote(raw_id, safe='{}')}{route}"
    return Case(name, method, path, 404, "not-found", f"no job with id {raw_id!r}", **kw)


STYLE = {"tone": "warm"}
INVALID_UTF8 = b'{"kind": "chapter", "input": {"entry": "ab\xff\xfe"}}'
NOT_JSON = "the body is not valid JSON: "
UNAUTHORIZED = "the API key is not valid (unknown or revoked)"
TICK = "send the tick secret as 'Authorization: Bearer <secret>'"
TYPE_INT = "Input should be a valid integer, unable to parse string as an integer"
CURSOR = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
WAIT = "Prefer: wait: must be 1–60 seconds"
OVER = f"the body is over the limit of {BODY_LIMIT} bytes"
SQL = quote("'; DROP TABLE jobs; --")
FORGED = "bbt_eyJvIjoiYWxpY2UifQ.forged-signature"

CASES = [
    post("missing-body", 422, "invalid-request", "body: Field required", b"", fields=("body",)),
    post("malformed-json", 400, "invalid-json", f"{NOT_JSON}Expecting value at line 1",
         b'{"kind": "chapter", "input": '),
    post("json-not-an-object", 422, "invalid-request", "body: Input should be a valid "
         "dictionary or object to extract fields from", b'["chapter"]', fields=("body",)),
    post("wrong-content-type", 415, "unsupported-media-type", "send application/json",
         js(OK_INPUT), headers=(("Content-Type", "text/plain"),)),
    post("form-encoded", 415, "unsupported-media-type", "send application/json",
         b"kind=chapter", headers=(("Content-Type", "application/x-www-form-urlencoded"),)),
    post("body-over-limit", 413, "too-large", OVER, js({**OK_INPUT, "input": "a" * BODY_LIMIT})),
    Case("body-over-limit-chunked", "POST", "/v1/jobs", 413, "too-large", OVER,
         send=chunked_over_limit),
    Case("declared-length-over-limit-unread", "POST", "/v1/jobs", 413, "too-large", OVER,
         send=declared_over_limit),
    post("input-over-limit", 413, "too-large", f"input: 70012 bytes is over the limit of "
         f"{MAX_INPUT} bytes", js({"kind": "chapter", "input": {"entry": "a" * 70_000}}),
         title="Input too large"),
    post("unknown-kind", 422, "invalid-input", re.compile(r"kind: unknown kind 'nope' \(known: "
         r".*\bchapter\b.*\)"), js({"kind": "nope", "input": {}})),
    post("input-fails-schema", 422, "invalid-input", "invalid input for kind 'portrait': "
         "character: String should have at least 3 characters; style.tone: Input should be "
         "'warm' or 'cold'", portrait(character="ab", style={"tone": "hot"}),
         fields=("character", "style.tone")),
    post("input-missing-field", 422, "invalid-input", "invalid input for kind 'portrait': "
         "style: Field required", portrait(character="Ada"), fields=("style",)),
    post("input-extra-field", 422, "invalid-input", "invalid input for kind 'portrait': seed: "
         "Extra inputs are not permitted", portrait(character="Ada", style=STYLE, seed=7),
         fields=("seed",)),
    post("input-extra-nested-field", 422, "invalid-input", "invalid input for kind 'portrait': "
         "style.hue: Extra inputs are not permitted",
         portrait(character="Ada", style={"tone": "warm", "hue": 3}), fields=("style.hue",)),
    post("input-wrong-type", 422, "invalid-input", f"invalid input for kind 'portrait': count: "
         f"{TYPE_INT}", portrait(character="Ada", style=STYLE, count="many"), fields=("count",)),
    post("input-huge-string", 422, "invalid-input", "invalid input for kind 'portrait': "
         "character: String should have at most 200 characters",
         portrait(character="c" * 30_000, style=STYLE), fields=("character",), hidden="c" * 64),
    post("body-extra-field", 422, "invalid-request", "body.colour: Extra inputs are not "
         "permitted", js({**OK_INPUT, "colour": "red"}), fields=("body.colour",)),
    post("body-wrong-type", 422, "invalid-request", f"body.priority: {TYPE_INT}",
         js({**OK_INPUT, "priority": "high"}), fields=("body.priority",)),
    post("body-wrong-type-kind", 422, "invalid-request", "body.kind: Input should be a valid "
         "string", js({"kind": 7, "input": {}}), fields=("body.kind",)),
    post("body-huge-scope", 422, "invalid-input", "scope: at most 200 characters, got 60000",
         js({**OK_INPUT, "scope": "s" * 60_000}), hidden="s" * 64),
    post("invalid-utf8", 400, "invalid-json", "the body is not valid UTF-8 (byte "
         f"{INVALID_UTF8.index(255)})", INVALID_UTF8),
    post("mass-assign-owner", 422, "invalid-request", "body.owner: Extra inputs are not "
         "permitted", js({**OK_INPUT, "owner": "mallory"}), fields=("body.owner",)),
    post("mass-assign-status", 422, "invalid-request", "body.status: Extra inputs are not "
         "permitted", js({**OK_INPUT, "status": "succeeded"}), fields=("body.status",)),
    post("mass-assign-attempt", 422, "invalid-request", "body.attempt: Extra inputs are not "
         "permitted", js({**OK_INPUT, "attempt": 9}), fields=("body.attempt",)),
    post("mass-assign-all", 422, "invalid-request", "body.owner: Extra inputs are not "
         "permitted", js({**OK_INPUT, "owner": "bob", "status": "running", "attempt": 0}),
         fields=("body.owner", "body.status", "body.attempt")),
    post("duplicate-keys", 400, "invalid-json", "duplicate key 'kind' in the JSON body",
         b'{"kind": "chapter", "kind": "portrait", "input": {}}'),
    post("duplicate-keys-in-input", 400, "invalid-json", "duplicate key 'entry' in the JSON "
         "body", b'{"kind": "chapter", "input": {"entry": "a", "entry": "b"}}'),
    post("nan", 400, "invalid-json", "NaN is not valid JSON",
         b'{"kind": "chapter", "input": {"x": NaN}}'),
    post("minus-infinity", 400, "invalid-json", "-Infinity is not valid JSON",
         b'{"kind": "chapter", "input": {"x": -Infinity}}'),
    post("deeply-nested", 400, "invalid-json", "the JSON body is nested deeper than 64 levels",
         b'{"kind": "chapter", "input": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"),
    post("nul-in-string", 422, "invalid-input", "input.entry: strings may not contain NUL "
         "characters", js({"kind": "chapter", "input": {"entry": "ab\x00c"}}),
         fields=("input.entry",)),
    post("nul-in-key", 422, "invalid-input", "input: strings may not contain NUL characters",
         js({"kind": "chapter", "input": {"ent\x00ry": "abc"}}), fields=("input",)),
    post("no-key", 401, "unauthorized", "send an API key as 'Authorization: Bearer <key>'",
         js(OK_INPUT), who=None),
    post("not-bearer", 401, "unauthorized", "the Authorization header must be 'Bearer <key>'",
         js(OK_INPUT), headers=(("Authorization", "Basic {key:alice}"),)),
    post("unknown-key", 401, "unauthorized", UNAUTHORIZED, js(OK_INPUT),
         headers=(("Authorization", "Bearer bb_0123456789ab_not-a-real-key"),),
         hidden="not-a-real-key"),
    post("revoked-key", 401, "unauthorized", UNAUTHORIZED, js(OK_INPUT), who="dave"),
    Case("key-in-query-string", "GET", "/v1/jobs?access_token={key:alice}", 401, "unauthorized",
         "?access_token= takes only browser tokens, never API keys", who=None),
    Case("forged-browser-token", "GET", "/v1/jobs", 401, "unauthorized", "the token's signature "
         "is not valid", who=None, headers=(("Authorization", f"Bearer {FORGED}"),),
         hidden=FORGED),
    Case("non-admin-owner-filter", "GET", "/v1/jobs?owner=bob", 403, "forbidden",
         "owner: only admin keys may filter by owner"),
    Case("non-admin-scope-stream-owner", "GET", "/v1/events?scope=s1&owner=bob", 403,
         "forbidden", "owner: only admin keys may name an owner"),
    Case("non-admin-token-for-another-owner", "POST", "/v1/tokens", 403, "forbidden",
         "owner: this key mints only for its owner", js({"owner": "bob"})),
    Case("token-ttl-over-a-day", "POST", "/v1/tokens", 422, "invalid-request", "body.ttl_s: "
         "Input should be less than or equal to 86400", js({"ttl_s": 86_401}),
         fields=("body.ttl_s",)),
    post("prefer-wait-61", 400, "invalid-wait", WAIT, js(OK_INPUT),
         headers=(("Prefer", "wait=61"),)),
    post("prefer-wait-0", 400, "invalid-wait", WAIT, js(OK_INPUT), headers=(("Prefer", "wait=0"),)),
    post("prefer-wait-word", 400, "invalid-wait", WAIT, js(OK_INPUT),
         headers=(("Prefer", "respond-async, wait=soon"),)),
    Case("get-wait-99", "GET", "/v1/jobs/{running}?wait=99", 400, "invalid-wait",
         "wait: must be 1–60 seconds"),
    Case("bad-cursor", "GET", "/v1/jobs?cursor=abc", 422, "invalid-request",
         f"query.cursor: String should match pattern '{CURSOR}'", fields=("query.cursor",)),
    Case("bad-cursor-sql", "GET", f"/v1/jobs?cursor={SQL}", 422,
         "invalid-request", f"query.cursor: String should match pattern '{CURSOR}'",
         fields=("query.cursor",)),
    Case("bad-status-filter", "GET", "/v1/jobs?status=done", 422, "invalid-request",
         "query.status.0: Input should be 'queued', 'running', 'succeeded', 'failed' or "
         "'canceled'", fields=("query.status.0",)),
    Case("bad-limit", "GET", "/v1/jobs?limit=0", 422, "invalid-request",
         "query.limit: Input should be greater than or equal to 1", fields=("query.limit",)),
    Case("bad-last-event-id", "GET", "/v1/jobs/{finished}/events", 400, "invalid-event-id",
         "Last-Event-ID: must be an id this stream sent (a whole number)",
         headers=(("Last-Event-ID", "abc"),)),
    Case("batch-over-100", "POST", "/v1/jobs/batch", 422, "invalid-request", "body.ids: List "
         "should have at most 100 items after validation, not 101",
         js({"ids": [f"id-{i}" for i in range(101)]}), fields=("body.ids",)),
    post("rate-limited", 429, "rate-limited", re.compile(r"owner 'carol' is over the "
         r"submission rate limit; retry in \d+ s"), js(OK_INPUT), who="carol",
         setup=exhaust_carol),
    Case("retry-running-job", "POST", "/v1/jobs/{running}/retry", 409, "conflict",
         "cannot retry job {running}: it is running (only failed or canceled jobs can be "
         "retried)"),
    Case("cancel-finished-job", "POST", "/v1/jobs/{finished}/cancel", 409, "conflict",
         "cannot cancel job {finished}: it is already succeeded (only queued or running jobs "
         "can be canceled)"),
    Case("tick-wrong-secret", "POST", "/v1/worker/tick", 401, "unauthorized", TICK,
         headers=(("Authorization", "Bearer wrong-tick-secret"),), hidden="wrong-tick-secret"),
    Case("tick-with-an-api-key", "POST", "/v1/worker/tick", 401, "unauthorized", TICK),
    Case("tick-without-secret", "POST", "/v1/worker/tick", 401, "unauthorized", TICK, who=None),
    gone("id-not-a-uuid", "GET", "not-a-job-id"),
    gone("id-sql", "GET", "'; DROP TABLE jobs; --"),
    gone("id-nul", "GET", "\x00"),
    gone("id-huge", "GET", "x" * 4000),
    gone("id-unicode", "GET", "ジョブ"),
    gone("id-unknown-uuid-delete", "DELETE", "00000000-0000-4000-8000-000000000000"),
    gone("id-malformed-cancel", "POST", "nope", "/cancel"),
    gone("id-malformed-retry", "POST", "nope", "/retry"),
    gone("id-malformed-events", "GET", "nope", "/events"),
    gone("another-owners-job-get", "GET", "{finished}", who="bob"),
    gone("another-owners-job-delete", "DELETE", "{finished}", who="bob"),
    gone("another-owners-job-cancel", "POST", "{running}", "/cancel", who="bob"),
    gone("another-owners-job-retry", "POST", "{finished}", "/retry", who="bob"),
    gone("another-owners-job-events", "GET", "{running}", "/events", who="bob"),
    # Each of these was a 500 (or stored something) until fixed; see the commit that fixed them.
    post("priority-out-of-range", 422, "invalid-request", "body.priority: Input should be less "
         "than or equal to 1000000", js({**OK_INPUT, "priority": 10**30}),
         fields=("body.priority",)),
    post("lone-surrogate-in-input", 400, "invalid-json", "input.entry: holds an unpaired "
         "surrogate escape, not Unicode", b'{"kind": "chapter", "input": {"entry": "\\ud800"}}',
         who="mallory"),
    post("lone-surrogate-in-scope", 400, "invalid-json", "scope: holds an unpaired surrogate "
         "escape, not Unicode", b'{"kind": "chapter", "input": {}, "scope": "\\udfff"}',
         who="mallory"),
    post("integer-over-4300-digits", 400, "invalid-json", re.compile(f"{NOT_JSON}Exceeds the "
         "limit .+"), b'{"kind": "chapter", "input": {"n": ' + b"9" * 5000 + b"}}"),
    Case("batch-lone-surrogate-id", "POST", "/v1/jobs/batch", 400, "invalid-json", "ids.0: holds "
         "an unpaired surrogate escape, not Unicode", b'{"ids": ["\\ud800"]}'),
    post("input-not-an-object-field-path", 422, "invalid-input", "invalid input for kind "
         "'portrait': input: Input should be a valid dictionary or instance of PortraitIn",
         js({"kind": "portrait", "input": [1, 2]}), fields=("input",)),
    post("webhook-url-not-http", 422, "invalid-input", "webhook.url: must start with http:// or "
         "https://", js({**OK_INPUT, "webhook": {"url": "file:///etc/passwd"}}),
         fields=("webhook.url",)),
    post("webhook-url-with-password", 422, "invalid-input", "webhook.url: must not carry a user "
         "name or password", js({**OK_INPUT, "webhook": {"url": "https://u:hunter2@example.com/"}}),
         fields=("webhook.url",), hidden="hunter2"),
    post("webhook-url-loopback", 422, "invalid-input", "webhook.url: resolves to 127.0.0.1, a "
         "private, loopback or link-local address (allow it with BACKBURNER_WEBHOOK_ALLOW)",
         js({**OK_INPUT, "webhook": {"url": "http://127.0.0.1:8080/admin"}}),
         fields=("webhook.url",)),
    post("webhook-url-cloud-metadata", 422, "invalid-input", "webhook.url: resolves to "
         "169.254.169.254, a private, loopback or link-local address (allow it with "
         "BACKBURNER_WEBHOOK_ALLOW)",
         js({**OK_INPUT, "webhook": {"url": "http://169.254.169.254/latest/meta-data"}}),
         fields=("webhook.url",)),
    post("webhook-unknown-event", 422, "invalid-request", re.compile(r"body\.webhook\.events\.0: "
         r"Input should be .+"), js({**OK_INPUT, "webhook": {"url": "https://example.com/h",
         "events": ["done"]}}), fields=("body.webhook.events.0",)),
]  # fmt: skip


def _params() -> list[Any]:
    xfail = pytest.mark.xfail
    return [
        pytest.param(c, id=c.name, marks=[xfail(strict=True, reason=c.bug)] if c.bug else [])
        for c in CASES
    ]


@pytest.mark.parametrize("case", _params())
def test_bad_input_is_a_clear_problem_and_stores_nothing(server: RealServer, case: Case) -> None:
    if case.setup is not None:
        case.setup(server)
    before = settle(server)
    response = send(server, case)
    after = snapshot(server.db)
    assert response.status_code == case.status, response.text[:500]
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert set(problem) <= {"type", "title", "status", "detail", "errors"}, problem
    title = case.title or TITLES[case.slug]
    assert (problem["type"], problem["title"], problem["status"]) == (
        f"/problems/{case.slug}",
        title,
        case.status,
    )
    if isinstance(case.detail, re.Pattern):
        assert case.detail.fullmatch(problem["detail"]), problem["detail"]
    else:
        assert problem["detail"] == server.fill(case.detail)
    if case.fields:
        assert [e["field"] for e in problem["errors"]] == list(case.fields), problem
        assert all(isinstance(e["message"], str) and e["message"] for e in problem["errors"])
    else:
        assert "errors" not in problem, problem
    if case.status == 401:
        assert response.headers["www-authenticate"] == "Bearer"
    if case.status == 429:
        assert response.headers["retry-after"].isdigit()
    assert_clean(response, [*server.keys.values(), TICK_SECRET, case.hidden])
    assert after == before, "the database changed"
