"""Bounds of the queues nobody consumes on purpose: unrouted, dead-letter and partner feeds (ADR 0085).

A queue of one of these classes never holds more than `max_length` messages nor any message older than
`max_age` (the `DIVERSION_*_MAX_LENGTH` / `..._MAX_AGE_SECONDS` settings, see shared/config.py). The bound is
rendered two ways with the same figures:

- queue arguments (`x-max-length`, `x-overflow: drop-head`, `x-message-ttl`, `x-dead-letter-exchange`) when a
  service declares the queue for the first time (`declare_bounded`);
- RabbitMQ policies in the definitions file (`policies()`, `diversion broker definitions|provision`), which
  also bound the queues an existing broker created before the bound: redeclaring such a queue with the new
  arguments fails with PRECONDITION_FAILED, so `declare_bounded` then declares it passively and logs one
  WARNING; the service keeps working and the policy applies the bound.

What a bound drops (the oldest message past the length, or a message past its age) is dead-lettered to the
owner's `diversion.<service>.dropped` queue (bounded too, with no dead-letter exchange of its own). The drain
(`drain_dropped`, on the records upkeep's timer and `diversion broker dropped`) counts it by source queue and
reason (`maxlen` / `expired`) into `diversion_<service>_bound_dropped_messages_total`, writes one audit entry
per agency whose partner feed lost messages (counts only), and discards the payload without logging it.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from amqp.exceptions import NotFound, PreconditionFailed
from kombu import Connection, Exchange, Queue

from shared.config import SERVICES, CommonSettings

log = logging.getLogger(__name__)

CLASSES = ("unrouted", "dlq", "partner_feed", "dropped")
FEED_OWNER = "notifications"  # the partner feeds are a notifications channel
FEED_QUEUE_PATTERN = r"^partner\.[A-Za-z0-9_-]+\.feed$"
_FEED_QUEUE = re.compile(r"^partner\.(?P<org>[A-Za-z0-9_-]+)\.feed$")
_FEED_EXCHANGE = re.compile(r"^agency\.(?P<agency>[A-Za-z0-9_-]+)\.partner_feed$")
_warned: set[str] = set()


@dataclass(frozen=True)
class Bound:
    max_length: int
    max_age_seconds: float

    @property
    def ttl_ms(self) -> int:
        return max(1, int(self.max_age_seconds * 1000))


@dataclass(frozen=True)
class Bounds:
    unrouted: Bound
    dlq: Bound
    partner_feed: Bound
    dropped: Bound

    @classmethod
    def from_settings(cls, common: CommonSettings) -> Bounds:
        return cls(*(Bound(getattr(common, f"{name}_max_length"), getattr(common, f"{name}_max_age_seconds"))
                     for name in CLASSES))

    def of(self, queue_class: str) -> Bound:
        bound: Bound = getattr(self, queue_class)
        return bound


def current_bounds(bounds: Bounds | None = None) -> Bounds:
    """The bounds given, or those of the `DIVERSION_*` environment (the defaults when unset)."""
    return bounds if bounds is not None else Bounds.from_settings(CommonSettings())


def dropped_name(service: str) -> str:
    return f"diversion.{service}.dropped"


def queue_arguments(queue_class: str, owner: str, bounds: Bounds | None = None) -> dict[str, Any]:
    """A bounded quorum queue's arguments; what it drops goes to the owner's `dropped` exchange (the
    `dropped` queue itself dead-letters nowhere)."""
    bound = current_bounds(bounds).of(queue_class)
    args: dict[str, Any] = {"x-queue-type": "quorum", "x-max-length": bound.max_length, "x-overflow": "drop-head",
                            "x-message-ttl": bound.ttl_ms}
    if queue_class != "dropped":
        args["x-dead-letter-exchange"] = dropped_name(owner)
    return args


def dropped_queue(service: str, bounds: Bounds | None = None) -> Queue:
    return Queue(dropped_name(service), exchange=Exchange(dropped_name(service), type="fanout", durable=True),
                 durable=True, queue_arguments=queue_arguments("dropped", service, bounds))


def declare_bounded(connection: Connection, queue: Queue) -> None:
    """Declare the queue (its exchange and binding too) with its bound, on a channel of its own.

    A queue an older release declared without the bound refuses the new arguments (406): it is then
    declared passively and bound as before, and one WARNING says the definitions' policy bounds it.
    """
    channel = connection.channel()
    try:
        queue(channel).declare()
        return
    except PreconditionFailed:
        pass  # the broker closed that channel
    finally:
        _close(channel)
    channel = connection.channel()
    try:
        bound = queue(channel)
        if bound.exchange is not None and bound.exchange.name:
            bound.exchange.declare()
        bound.queue_declare(passive=True)
        bound.queue_bind()
    finally:
        _close(channel)
    if queue.name not in _warned:
        _warned.add(queue.name)
        log.warning("queue %s predates its bound (declared without x-max-length/x-message-ttl): kept as it is; "
                    "the policy of deploy/rabbitmq/definitions.json bounds it (ADR 0085)", queue.name)


def _close(channel: Any) -> None:
    try:
        channel.close()
    except Exception:  # noqa: BLE001 - already closed by the broker
        pass


def declare_dropped(connection: Connection, service: str, bounds: Bounds | None = None) -> None:
    declare_bounded(connection, dropped_queue(service, bounds))


# ------------------------------------------------------------------------------------------ policies

def _policy(vhost: str, name: str, pattern: str, bound: Bound, dlx: str | None) -> dict[str, Any]:
    definition: dict[str, Any] = {"max-length": bound.max_length, "message-ttl": bound.ttl_ms,
                                  "overflow": "drop-head"}
    if dlx is not None:
        definition["dead-letter-exchange"] = dlx
    return {"vhost": vhost, "name": name, "pattern": pattern, "apply-to": "queues", "priority": 10,
            "definition": definition}


def policies(vhost: str = "/", bounds: Bounds | None = None,
             services: tuple[str, ...] = SERVICES) -> list[dict[str, Any]]:
    """The RabbitMQ policies of every bounded queue (one per service and class: each names its `dropped`)."""
    chosen = current_bounds(bounds)
    out = []
    for service in services:
        prefix = rf"^diversion\.{re.escape(service)}\."
        out.append(_policy(vhost, f"diversion-{service}-unrouted-bound", prefix + r"unrouted$", chosen.unrouted,
                           dropped_name(service)))
        out.append(_policy(vhost, f"diversion-{service}-dlq-bound", prefix + r"dlq$", chosen.dlq,
                           dropped_name(service)))
        out.append(_policy(vhost, f"diversion-{service}-dropped-bound", prefix + r"dropped$", chosen.dropped, None))
    out.append(_policy(vhost, "diversion-partner-feed-bound", FEED_QUEUE_PATTERN, chosen.partner_feed,
                       dropped_name(FEED_OWNER)))
    return out


# --------------------------------------------------------------------------------------------- drain

@dataclass
class DropReport:
    service: str
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)  # (source queue, reason) -> messages
    feeds: dict[str, Counter[tuple[str, str]]] = field(default_factory=dict)  # agency -> (org, reason) -> n

    def total(self) -> int:
        return sum(self.counts.values())

    def count(self, queue: str, reason: str, exchange: str | None) -> None:
        """One dropped message, dead-lettered from `queue` (published to `exchange`) for `reason`."""
        self.counts[(queue, reason)] += 1
        feed, agency = _FEED_QUEUE.match(queue), _FEED_EXCHANGE.match(exchange or "")
        if feed and agency:
            self.feeds.setdefault(agency["agency"], Counter())[(feed["org"], reason)] += 1

    def absorb(self, other: DropReport) -> None:
        """Add `other`'s counts to these and empty it."""
        self.counts.update(other.counts)
        for agency, counts in other.feeds.items():
            self.feeds.setdefault(agency, Counter()).update(counts)
        other.counts, other.feeds = Counter(), {}


def origin(headers: dict[str, Any] | None) -> tuple[str, str, str | None]:
    """(source queue, reason, exchange published to) of a dead-lettered message, from `x-death` (the most
    recent entry first) or the `x-first-death-*` headers."""
    headers = headers or {}
    deaths = headers.get("x-death") or []
    if deaths and isinstance(deaths[0], dict):
        last = deaths[0]
        return str(last.get("queue", "?")), str(last.get("reason", "?")), _text(last.get("exchange"))
    return (str(headers.get("x-first-death-queue", "?")), str(headers.get("x-first-death-reason", "?")),
            _text(headers.get("x-first-death-exchange")))


def _text(value: Any) -> str | None:
    return value.decode() if isinstance(value, bytes) else (str(value) if value is not None else None)


DRAIN_WINDOW = 500  # messages the broker sends ahead of an acknowledgement; audited and acknowledged together


def _take(connection: Any, channel: Any, queue: str, wanted: int, report: DropReport, engine: Any) -> None:
    """Count `wanted` messages of `queue` into `report`, streamed a window at a time (a `basic_get` per message
    made the drain after an overload one round trip per drop). Each window's partner-feed drops are audited
    before its messages are acknowledged: a failed write leaves them, and the rest, for the next round."""
    window = DropReport(report.service)
    last: list[int] = []

    def counted(message: Any) -> None:
        if report.total() + window.total() >= wanted:
            return  # past what this round takes: not acknowledged, so it is requeued when the channel closes
        last[:] = [message.delivery_tag]
        window.count(*origin(message.properties.get("application_headers")))

    def settle() -> None:
        if not last:
            return
        if engine is not None and window.feeds:
            audit_feed_drops(engine, window)
        channel.basic_ack(last.pop(), multiple=True)
        report.absorb(window)

    channel.basic_qos(0, min(wanted, DRAIN_WINDOW), False)
    tag = channel.basic_consume(queue, no_ack=False, callback=counted)
    while report.total() + window.total() < wanted:
        if window.total() >= DRAIN_WINDOW:
            settle()  # the broker sends the next window once this one is acknowledged
        try:
            connection.drain_events(timeout=2)
        except TimeoutError:
            break  # a peer draining the same queue took the rest
    settle()
    channel.basic_cancel(tag)


def drain_dropped(amqp_uri: str, service: str, engine: Any = None, limit: int = 10_000) -> DropReport:
    """Count and discard what the bounds dropped for `service` (at most `limit` messages a round).

    The counts go to the messaging metrics; with `engine`, a partner feed's drops are audited for its agency
    in the same round, before the messages are acknowledged (a failed write leaves them for the next round).
    """
    from shared.messaging.metrics import count_dropped

    report = DropReport(service)
    try:
        with Connection(amqp_uri, connect_timeout=5) as connection:
            channel = connection.channel()
            try:
                _name, waiting, _consumers = channel.queue_declare(dropped_name(service), passive=True)
            except NotFound:
                return report  # nothing was ever bounded here
            wanted = min(waiting, limit)  # what is there now: messages dropped meanwhile wait for the next round
            if wanted:
                _take(connection, channel, dropped_name(service), wanted, report, engine)
            channel.close()
    finally:  # what was acknowledged is counted, even if a later window's audit write failed
        for (queue, reason), count in report.counts.items():
            count_dropped(service, queue, reason, count)
        if report.total():
            log.info("bounds dropped %s message(s) for %s: %s", report.total(), service,
                     ", ".join(f"{q} {r} {n}" for (q, r), n in sorted(report.counts.items())))
    return report


def audit_feed_drops(engine: Any, report: DropReport) -> None:
    """One audit entry per agency and partner whose feed lost messages: counts by reason, no payload."""
    from shared.audit import write_audit

    with engine.begin() as connection:
        for agency, counts in sorted(report.feeds.items()):
            for org in sorted({org for org, _reason in counts}):
                detail = {"queue": f"partner.{org}.feed",
                          "counts": {reason: n for (o, reason), n in sorted(counts.items()) if o == org}}
                write_audit(connection, service=report.service, action="partner_feed.dropped", outcome="success",
                            identity=None, resource_type="partner_feed", resource_id=org, source_ip=None,
                            request_id=None, detail=detail, agency_id=agency, actor="system:queue-bounds")
