"""``GET /metrics``: gauges counted from the database, histograms observed by this process's
workers, in Prometheus' text format."""

from __future__ import annotations

from typing import Any

import httpx
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

import backburner as bb

from ..conftest import eventually

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def add_metric_kinds(app: bb.Backburner) -> None:
    @app.task(attempts=1)
    async def boom(ctx: bb.Context, data: dict[str, Any]) -> None:
        raise ValueError("no good")

    @app.task(attempts=2)
    async def later(ctx: bb.Context, data: dict[str, Any]) -> None:
        raise bb.Retry(after="1h")


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == CONTENT_TYPE_LATEST
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


async def test_metrics_after_a_worker_ran_jobs(
    app: bb.Backburner, client: httpx.AsyncClient
) -> None:
    add_metric_kinds(app)
    done = [await app.submit("story", {"prompt": f"tale {i}"}) for i in range(2)]
    failed = await app.submit("boom", {})
    retried = await app.submit("later", {})
    async with app.worker() as worker:
        for job in [*done, failed]:
            await app.wait(job.id, timeout=10)

        async def retry_recorded() -> bool:
            return worker.stats["queued"] >= 1

        await eventually(retry_recorded)
    queued = [await app.submit("story", {"prompt": f"queued {i}"}) for i in range(3)]

    samples = await scrape(client)

    assert (await app.get(retried.id)).status == bb.JobStatus.QUEUED
    assert len(queued) == 3
    assert value(samples, "backburner_jobs", kind="story", status="succeeded") == 2
    assert value(samples, "backburner_jobs", kind="story", status="queued") == 3
    assert value(samples, "backburner_jobs", kind="boom", status="failed") == 1
    assert value(samples, "backburner_jobs", kind="later", status="queued") == 1
    # The retried job waits an hour: queued, but not claimable now.
    assert value(samples, "backburner_queue_depth", kind="story") == 3
    assert value(samples, "backburner_queue_depth", kind="later") is None
    assert value(samples, "backburner_failed_jobs", kind="boom", error_type="handler_error") == 1
    assert value(samples, "backburner_job_wait_seconds_count", kind="story") == 2
    assert value(samples, "backburner_job_wait_seconds_count", kind="boom") == 1
    assert value(samples, "backburner_job_wait_seconds_count", kind="later") == 1
    assert value(samples, "backburner_job_run_seconds_count", kind="story", status="succeeded") == 2
    assert value(samples, "backburner_job_run_seconds_count", kind="boom", status="failed") == 1
    assert value(samples, "backburner_job_run_seconds_count", kind="later", status="queued") == 1
    outcomes = "backburner_job_outcomes_total"
    assert value(samples, outcomes, kind="story", status="succeeded", error_type="") == 2
    assert value(samples, outcomes, kind="boom", status="failed", error_type="handler_error") == 1


async def test_metrics_need_no_key_and_start_empty(client: httpx.AsyncClient) -> None:
    samples = await scrape(client)

    assert not any(name == "backburner_jobs" for name, _ in samples)
    assert not any(name.startswith("backburner_job_run_seconds") for name, _ in samples)


async def test_each_app_keeps_its_own_metrics(app: bb.Backburner, settings: bb.Settings) -> None:
    other = bb.Backburner(settings=settings)

    app.metrics.observe("story", 0.1, 0.2, "succeeded", None)

    assert app.metrics is app.metrics
    assert b'kind="story"' in app.metrics.render([])
    assert b'kind="story"' not in other.metrics.render([])
