"""A submit answers with the job as a read of its row would give it (it is not read back)."""

from __future__ import annotations

from typing import Any

import backburner as bb


async def test_the_submitted_job_equals_a_fresh_read_of_its_row(db_url: str) -> None:
    app = bb.Backburner(settings=bb.Settings(database_url=db_url, webhook_allow="127.0.0.0/8"))

    @app.task(attempts=2, slow_after="5m", expire_after="1h")
    async def k(ctx: bb.Context, data: dict[str, Any]) -> None: ...

    submits: list[dict[str, Any]] = [
        {},
        {"owner": "alice", "scope": "novel:1", "priority": 3},
        {"dedupe_key": "chapter-7", "owner": "bob"},
        {"webhook": {"url": "http://127.0.0.1:9/hook"}},
    ]
    try:
        for options in submits:
            data = {"text": "a day", "n": 2, "nested": {"b": [1, 2.5, None], "a": True}}
            submitted = await app.submit("k", data, **options)
            read = await app.get(submitted.id)
            assert submitted == read
            assert submitted.model_dump(mode="json") == read.model_dump(mode="json")
    finally:
        await app.close()
