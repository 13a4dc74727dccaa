"""`JobMetrics`: Prometheus metrics for an app — what its workers saw, and what the database holds.

```python
metrics = app.metrics                         # one per app, its own registry
metrics.observe("chapter", wait_s=0.2, run_s=4.1, status="succeeded", error_type=None)
text = metrics.render(await app.job_counts())  # the exposition text `GET /metrics` serves
```

Histograms and the outcome counter are observed in this process (by its workers); the
``backburner_jobs``, ``backburner_queue_depth`` and ``backburner_failed_jobs`` gauges are
counted from the database at each scrape, so every process reports the same totals.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client import Counter as PromCounter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .jobs import JobStatus
from .storage.credits_sql import CreditTotals
from .storage.stats_sql import JobCount

__all__ = ["JobMetrics"]

#: Bucket bounds in seconds: AI jobs run from sub-second to many minutes.
_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)


class JobMetrics:
    """Prometheus metrics over a registry of its own (never the global default one).

    Several apps in one process (tests, say) each keep separate metrics.
    """

    def __init__(self) -> None:
        #: The registry `render` exposes.
        self.registry = CollectorRegistry(auto_describe=True)
        self._wait = Histogram(
            "backburner_job_wait_seconds",
            "Time from a job's run_at to its claim by a worker in this process.",
            ["kind"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self._run = Histogram(
            "backburner_job_run_seconds",
            "Time from claim to outcome of attempts run in this process.",
            ["kind", "status"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self._outcomes = PromCounter(
            "backburner_job_outcomes",
            "Attempt outcomes recorded by workers in this process.",
            ["kind", "status", "error_type"],
            registry=self.registry,
        )
        #: ``(kind, status, error_type)`` → that outcome's wait, run and outcome series.
        self._series: dict[tuple[str, str, str], tuple[Histogram, Histogram, PromCounter]] = {}

    def observe(
        self, kind: str, wait_s: float, run_s: float, status: str, error_type: str | None
    ) -> None:
        """Record one attempt's outcome: cheap, no I/O (called on the worker's hot path)."""
        key = (kind, status, error_type or "")
        series = self._series.get(key)
        if series is None:  # `labels` checks and converts its arguments on every call
            series = self._series[key] = (
                self._wait.labels(kind),
                self._run.labels(kind, status),
                self._outcomes.labels(*key),
            )
        series[0].observe(max(wait_s, 0.0))
        series[1].observe(max(run_s, 0.0))
        series[2].inc()

    def render(self, counts: Iterable[JobCount], credits: CreditTotals | None = None) -> bytes:
        """The exposition text: this process's histograms and counter, gauges of ``counts``
        and, given ``credits``, the ledger's totals.

        The gauges go through a registry made for this scrape, so concurrent scrapes never
        share state.
        """
        scrape = CollectorRegistry(auto_describe=False)
        scrape.register(_CountsCollector(list(counts), credits))
        return generate_latest(self.registry) + generate_latest(scrape)


class _CountsCollector(Collector):
    """Gauges built per scrape from the database's counts."""

    def __init__(self, counts: list[JobCount], credits: CreditTotals | None) -> None:
        self.counts = counts
        self.credits = credits

    def collect(self) -> Iterable[Metric]:
        yield from _gauges(self.counts)
        if self.credits is not None:
            yield from _credit_metrics(self.credits)


def _credit_metrics(totals: CreditTotals) -> Iterator[Metric]:
    """The ledger's entries and credits by type and kind (counters: the ledger only grows),
    and the owners' balances and reservations summed (gauges)."""
    entries = CounterMetricFamily(
        "backburner_credit_entries", "Credit ledger entries.", labels=["type", "kind"]
    )
    amounts = CounterMetricFamily(
        "backburner_credits",
        "Credits moved by ledger entries (charges counted positive).",
        labels=["type", "kind"],
    )
    for type_, kind, count, amount in sorted(totals.entries, key=lambda e: (e[0], e[1] or "")):
        entries.add_metric([type_, kind or ""], count)
        amounts.add_metric([type_, kind or ""], abs(amount))
    yield entries
    yield amounts
    for name, doc, value in (
        ("backburner_credit_balance", "Credits held by all owners.", totals.balance),
        ("backburner_credit_reserved", "Credits reserved by queued jobs.", totals.reserved),
        ("backburner_credit_owners", "Owners with a credit balance.", totals.owners),
    ):
        yield GaugeMetricFamily(name, doc, value=value)


def _gauges(counts: Iterable[JobCount]) -> Iterator[Metric]:
    """backburner_jobs, backburner_queue_depth and backburner_failed_jobs, from ``counts``."""
    by_status: Counter[tuple[str, ...]] = Counter()
    depth: Counter[tuple[str, ...]] = Counter()
    failed: Counter[tuple[str, ...]] = Counter()
    for row in counts:
        by_status[row.kind, row.status] += row.count
        if row.runnable:
            depth[(row.kind,)] += row.count
        if row.status == JobStatus.FAILED.value:
            failed[row.kind, row.error_type or ""] += row.count
    yield _family("backburner_jobs", "Jobs in the database.", ["kind", "status"], by_status)
    yield _family(
        "backburner_queue_depth",
        "Queued jobs whose run_at has passed: claimable now.",
        ["kind"],
        depth,
    )
    yield _family(
        "backburner_failed_jobs",
        "Failed jobs still retained in the database.",
        ["kind", "error_type"],
        failed,
    )


def _family(
    name: str, doc: str, labels: list[str], values: Counter[tuple[str, ...]]
) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=labels)
    for key, value in sorted(values.items()):
        family.add_metric(list(key), value)
    return family
