"""Prometheus metrics per service container (`diversion_<service>_..._total|_seconds`), no per-person labels."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


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

    def register(self, collector: Collector) -> None:
        self.registry.register(collector)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def metrics_for(container: Any) -> ServiceMetrics:
    """The metrics of one service container (tests run several in one process).

    Kept on the container itself: extensions only hold weak proxies to it.
    """
    metrics = getattr(container, "_diversion_metrics", None)
    if metrics is None:
        metrics = ServiceMetrics(container.service_name)
        container._diversion_metrics = metrics
    return metrics
