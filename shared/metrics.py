"""Prometheus metrics per service container (`diversion_<service>_..._total|_seconds`), no per-person labels.

`/metrics` answers in the format the scraper asks for: OpenMetrics 1.0 for `Accept:
application/openmetrics-text`, the Prometheus text format 0.0.4 otherwise (prometheus_client's own
negotiation). Besides the suite's own figures it carries prometheus_client's process (`process_*`),
Python platform (`python_info`) and garbage-collector (`python_gc_*`) collectors.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"
# The process, platform and GC figures describe the process, not a service: the same collectors
# (prometheus_client's defaults) on every service's page.
PROCESS_COLLECTORS: tuple[Collector, ...] = (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR)


class _Together(Collector):
    """Several collectors read as one registry, so one exposition (one `# EOF` in OpenMetrics) has them all."""

    def __init__(self, collectors: Iterable[Collector]) -> None:
        self.collectors = list(collectors)

    def collect(self) -> Iterator[Metric]:
        for collector in self.collectors:
            yield from collector.collect()


class ServiceMetrics:
    def __init__(self, service: str):
        self.service = service
        self.registry = CollectorRegistry(auto_describe=True)
        prefix = f"diversion_{service}"
        self.http_requests = Counter(
            f"{prefix}_http_requests_total", "HTTP requests by route and status",
            ["method", "route", "status"], registry=self.registry,
        )
        self.http_seconds = Histogram(
            f"{prefix}_http_request_duration_seconds", "HTTP request duration by route",
            ["method", "route"], registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.auth_failures = Counter(
            f"{prefix}_authentication_failures_total", "Requests refused for a missing or invalid token",
            registry=self.registry,
        )

    def observe_http(self, method: str, route: str, status: int, seconds: float) -> None:
        self.http_requests.labels(method, route, str(status)).inc()
        self.http_seconds.labels(method, route).observe(seconds)

    def counter(self, name: str, documentation: str, labels: tuple[str, ...] = ()) -> Counter:
        return Counter(f"diversion_{self.service}_{name}", documentation, list(labels), registry=self.registry)

    def histogram(self, name: str, documentation: str, labels: tuple[str, ...] = (),
                  buckets: Sequence[float] = Histogram.DEFAULT_BUCKETS) -> Histogram:
        return Histogram(f"diversion_{self.service}_{name}", documentation, list(labels), registry=self.registry,
                         buckets=buckets)

    def register(self, collector: Collector) -> None:
        self.registry.register(collector)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def negotiate(self, accept: str | None, extra: Iterable[Collector] = ()) -> tuple[bytes, str]:
        """The page and its content type for a scraper's `Accept` header: OpenMetrics or Prometheus text."""
        encoder, content_type = choose_encoder(accept or "")
        page = _Together([self.registry, *extra, *PROCESS_COLLECTORS])
        return encoder(page), content_type


def metrics_for(container: Any) -> ServiceMetrics:
    """The metrics of one service container (tests run several in one process).

    Kept on the container itself: extensions only hold weak proxies to it.
    """
    metrics = getattr(container, "_diversion_metrics", None)
    if metrics is None:
        metrics = ServiceMetrics(container.service_name)
        container._diversion_metrics = metrics
    return metrics
