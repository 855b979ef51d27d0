"""Helpers for the notifications tests: HTTP receivers, a mail sink, publishing events, the clock to move."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kombu import Connection, Producer

from services.notifications.domain.clock import ManualClock
from services.notifications.extensions import NotificationRuntime
from shared.disclosure import PARTNER_EVENT_TYPES
from shared.messaging.envelope import CloudEvent, service_of
from shared.messaging.outbox import CLOUDEVENTS_CONTENT_TYPE
from shared.messaging.topology import declare_publisher_topology, events_exchange
from tests.conftest import AMQP_URI
from tests.integration.notifications.notifications_events import consent_recorded
from tests.support.signed import event_headers
from tests.support.waiting import wait_for  # noqa: F401 (re-exported to the tests here)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


Reply = tuple[int, dict[str, str], bytes]


@dataclass
class Receiver:
    """A real HTTP endpoint on 127.0.0.1 recording every POST; `reply` decides each answer."""

    url: str
    requests: list[Received] = field(default_factory=list)
    reply: Callable[[Received], Reply] = lambda request: (200, {}, b"ok")
    release: threading.Event = field(default_factory=threading.Event)

    def hang(self, request: Received) -> Reply:
        self.release.wait(10)
        return 200, {}, b"late"


class MailSink:
    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted"


PARTNER_EVENTS = {f"org.diversion.resources.{name}" for name in PARTNER_EVENT_TYPES}


def with_consents(events: list[CloudEvent]) -> list[CloudEvent]:
    """Each partner-bound event preceded by casework's consent.recorded for the consent it names (the
    send-time check needs one, ADR 0070); tests of that check publish with `consent=False`."""
    out: list[CloudEvent] = []
    granted: set[tuple[str, str]] = set()
    for event in events:
        key = (event.tenantid, getattr(event.data, "organization_id", ""))
        if event.type in PARTNER_EVENTS and key not in granted:
            granted.add(key)
            out.append(consent_recorded(*key))
        out.append(event)
    return out


def publish(event: CloudEvent, consent: bool = True) -> None:
    """Publish an event as its source service's outbox relay would (confirmed, persistent); a partner-bound
    one after a covering consent.recorded unless `consent=False`."""
    if consent and event.type in PARTNER_EVENTS:
        publish(consent_recorded(event.tenantid, event.data.organization_id))
    with Connection(AMQP_URI, transport_options={"confirm_publish": True}) as connection:
        declare_publisher_topology(connection, service_of(event.source))
        producer = Producer(connection.default_channel, exchange=events_exchange(service_of(event.source)))
        producer.publish(
            event.to_bytes(), routing_key=event.type, content_type=CLOUDEVENTS_CONTENT_TYPE,
            content_encoding="utf-8", delivery_mode=2, message_id=event.id, retry=True,
            headers=event_headers(event),
        )


def publish_many(events: list[CloudEvent], consent: bool = True) -> None:
    """Publish a burst of events on one connection (they reach the service together, in batches)."""
    if consent:
        events = with_consents(events)
    with Connection(AMQP_URI, transport_options={"confirm_publish": True}) as connection:
        for source in {event.source for event in events}:
            declare_publisher_topology(connection, service_of(source))
        for event in events:
            producer = Producer(connection.default_channel, exchange=events_exchange(service_of(event.source)))
            producer.publish(
                event.to_bytes(), routing_key=event.type, content_type=CLOUDEVENTS_CONTENT_TYPE,
                content_encoding="utf-8", delivery_mode=2, message_id=event.id, headers=event_headers(event),
            )


def runtime_of(api: Any) -> NotificationRuntime:
    for dependency in api.container.dependencies:
        if isinstance(dependency, NotificationRuntime):
            return dependency
    raise AssertionError("the container has no NotificationRuntime")


def manual_clock(*apis: Any, start: datetime | None = None) -> ManualClock:
    """One ManualClock shared by the given service instances' delivery runtimes."""
    clock = ManualClock(start or datetime.now(UTC))
    for api in apis:
        runtime_of(api).clock = clock
    return clock


BASE_ENV = {
    "DIVERSION_NOTIFICATIONS_WEBHOOK_ALLOW_LIST": "127.0.0.1",
    "DIVERSION_NOTIFICATIONS_DISPATCH_INTERVAL_SECONDS": "0.1",
    "DIVERSION_NOTIFICATIONS_WEBHOOK_TIMEOUT_SECONDS": "3",
    "DIVERSION_NOTIFICATIONS_RETRY_JITTER": "0",
}
