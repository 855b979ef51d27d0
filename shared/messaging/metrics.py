"""Prometheus figures of the messaging layer: outbox backlog, handler failures, dead-letter depth.

Backlog and depth are read when scraped (a Collector), so they are right after a restart too.
Names: `diversion_<service>_outbox_backlog`, `..._handler_failures_total`, `..._dead_letter_depth`,
`..._duplicate_events_total`, `..._event_batches_total` (by outcome: committed, or rolled back and applied
one by one), `..._batched_events_total` (events committed in batches) and
`..._bound_dropped_messages_total` (by source queue and reason `maxlen` / `expired`: what a queue bound dropped,
counted by the drain of shared/messaging/bounds.py, ADR 0085).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterator

from kombu import Connection
from prometheus_client import REGISTRY
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry
from sqlalchemy.engine import Engine

from shared.messaging.topology import dlq_name

log = logging.getLogger(__name__)

_failures: Counter[tuple[str, str]] = Counter()
_duplicates: Counter[tuple[str, str]] = Counter()
_batches: Counter[tuple[str, str, str]] = Counter()  # (service, handler, outcome)
_batched_events: Counter[tuple[str, str]] = Counter()
_dropped: Counter[tuple[str, str, str]] = Counter()  # (service, source queue, reason)
_failures_lock = threading.Lock()
_registered: dict[tuple[str, int], MessagingCollector] = {}


def count_handler_failure(service: str, handler: str) -> None:
    with _failures_lock:
        _failures[(service, handler)] += 1


def count_duplicate(service: str, handler: str) -> None:
    with _failures_lock:
        _duplicates[(service, handler)] += 1


def count_batch(service: str, handler: str, events: int, committed: bool) -> None:
    with _failures_lock:
        _batches[(service, handler, "committed" if committed else "rolled_back")] += 1
        if committed:
            _batched_events[(service, handler)] += events


def count_dropped(service: str, queue: str, reason: str, count: int) -> None:
    with _failures_lock:
        _dropped[(service, queue, reason)] += count


def bound_dropped(service: str, queue: str | None = None, reason: str | None = None) -> int:
    """Messages a queue bound dropped for `service` (optionally of one source queue and reason)."""
    with _failures_lock:
        return sum(n for (s, q, r), n in _dropped.items()
                   if s == service and queue in (None, q) and reason in (None, r))


def event_batches(service: str, outcome: str) -> int:
    """Batches of a service's reliable handlers that `committed`, or were `rolled_back` (then one by one)."""
    with _failures_lock:
        return sum(n for (s, _h, o), n in _batches.items() if s == service and o == outcome)


def duplicates_absorbed(service: str) -> int:
    """Deliveries the inbox recognised as already handled (redeliveries, republished events)."""
    with _failures_lock:
        return sum(n for (s, _h), n in _duplicates.items() if s == service)


def handler_failures(service: str, handler: str | None = None) -> int:
    with _failures_lock:
        return sum(n for (s, h), n in _failures.items() if s == service and handler in (None, h))


def dead_letter_depth(amqp_uri: str, service: str) -> int:
    """Messages waiting in the service's dead-letter queue (a passive declare: creates nothing)."""
    with Connection(amqp_uri, connect_timeout=3) as connection:
        channel = connection.channel()
        try:
            _name, count, _consumers = channel.queue_declare(dlq_name(service), passive=True)
        finally:
            channel.close()
        return int(count)


class MessagingCollector(Collector):
    def __init__(self, service: str, engine: Engine | None, amqp_uri: str | None) -> None:
        self.service = service
        self.engine = engine
        self.amqp_uri = amqp_uri

    def describe(self) -> list[Metric]:
        """Nothing to describe up front: registering then does no I/O (no scrape, so no green-thread switch
        while another extension of the same container registers); the names are the service's own."""
        return []

    def collect(self) -> Iterator[Metric]:  # noqa: C901 - one metric family after another, each guarded so a scrape never fails
        from shared.messaging.outbox import outbox_backlog

        prefix = f"diversion_{self.service}"
        if self.engine is not None:
            backlog = GaugeMetricFamily(f"{prefix}_outbox_backlog", "Outbox events not yet confirmed by the broker")
            try:
                backlog.add_metric([], outbox_backlog(self.engine))
                yield backlog
            except Exception:
                log.warning("outbox backlog unavailable", exc_info=True)
        failures = CounterMetricFamily(
            f"{prefix}_handler_failures", "Event handler runs that raised", labels=["handler"]
        )
        with _failures_lock:
            for (service, handler), count in _failures.items():
                if service == self.service:
                    failures.add_metric([handler], count)
        yield failures
        duplicates = CounterMetricFamily(
            f"{prefix}_duplicate_events", "Deliveries absorbed by the inbox as already handled", labels=["handler"]
        )
        with _failures_lock:
            for (service, handler), count in _duplicates.items():
                if service == self.service:
                    duplicates.add_metric([handler], count)
        yield duplicates
        batches = CounterMetricFamily(
            f"{prefix}_event_batches",
            "Batches of events applied in one transaction, by outcome (rolled_back: then applied one by one)",
            labels=["handler", "outcome"],
        )
        batched = CounterMetricFamily(
            f"{prefix}_batched_events", "Events committed as part of a batch", labels=["handler"]
        )
        with _failures_lock:
            for (service, handler, outcome), count in _batches.items():
                if service == self.service:
                    batches.add_metric([handler, outcome], count)
            for (service, handler), count in _batched_events.items():
                if service == self.service:
                    batched.add_metric([handler], count)
        yield batches
        yield batched
        dropped = CounterMetricFamily(
            f"{prefix}_bound_dropped_messages",
            "Messages a queue bound dropped (ADR 0085), by source queue and reason (maxlen, expired)",
            labels=["queue", "reason"],
        )
        with _failures_lock:
            for (service, queue, reason), count in _dropped.items():
                if service == self.service:
                    dropped.add_metric([queue, reason], count)
        yield dropped
        if self.amqp_uri is not None:
            depth = GaugeMetricFamily(f"{prefix}_dead_letter_depth", "Messages in the dead-letter queue")
            try:
                depth.add_metric([], dead_letter_depth(self.amqp_uri, self.service))
                yield depth
            except Exception:
                log.debug("dead-letter depth unavailable", exc_info=True)


def register_service_metrics(
    service: str,
    engine: Engine | None,
    amqp_uri: str | None,
    registry: CollectorRegistry = REGISTRY,
) -> MessagingCollector:
    """Register (once per service and registry) the collector; later calls refresh its engine/URI."""
    key = (service, id(registry))
    collector = _registered.get(key)
    if collector is None:
        collector = MessagingCollector(service, engine, amqp_uri)
        # Remember it before registering: register() runs collect(), which does I/O and so lets another
        # green thread of the same container (outbox relay, another handler) get here meanwhile.
        _registered[key] = collector
        registry.register(collector)
    else:
        collector.engine = engine or collector.engine
        collector.amqp_uri = amqp_uri or collector.amqp_uri
    return collector


def collector_for(service: str) -> MessagingCollector | None:
    """The service's messaging collector, for its own `/metrics` page."""
    return _registered.get((service, id(REGISTRY)))
