"""Cross-origin pages: allowed only for the configured origins, never with cookies."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

import backburner as bb
from backburner.api import create_api

from .conftest import add_kinds


@pytest.fixture
def settings(tmp_path: Path) -> bb.Settings:
    return bb.Settings(
        database_url=f"sqlite:///{tmp_path / 'bb.db'}",
        cors_origins="https://app.example, https://admin.example/",
    )


async def test_a_configured_origin_may_call_the_api_and_others_may_not(
    app: bb.Backburner,
) -> None:
    add_kinds(app)
    _, key = await app.create_api_key("alice")
    transport = httpx.ASGITransport(app=create_api(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://bb.test") as http:
        preflight = await http.options(
            "/v1/jobs",
            headers={
                "Origin": "https://app.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type, prefer",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://app.example"
        assert "access-control-allow-credentials" not in preflight.headers
        listed = await http.get(
            "/v1/jobs",
            headers={"Origin": "https://admin.example", "Authorization": f"Bearer {key}"},
        )
        assert listed.headers["access-control-allow-origin"] == "https://admin.example"
        foreign = await http.get(
            "/v1/jobs", headers={"Origin": "https://evil.example", "Authorization": f"Bearer {key}"}
        )
        assert "access-control-allow-origin" not in foreign.headers


async def test_without_origins_no_cross_origin_headers_are_sent(tmp_path: Path) -> None:
    app = bb.Backburner(settings=bb.Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}"))
    transport = httpx.ASGITransport(app=create_api(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://bb.test") as http:
        answer = await http.get("/healthz", headers={"Origin": "https://app.example"})
    assert "access-control-allow-origin" not in answer.headers
    await app.close()


def test_an_origin_that_is_not_one_is_a_config_error() -> None:
    with pytest.raises(bb.ConfigError, match="BACKBURNER_CORS_ORIGINS"):
        bb.Settings(cors_origins="app.example")
