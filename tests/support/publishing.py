"""Publish a CloudEvent as its source service's outbox relay would (confirmed, persistent, signed)."""

from __future__ import annotations

from kombu import Connection, Producer

from shared.messaging.envelope import CloudEvent, service_of
from shared.messaging.outbox import CLOUDEVENTS_CONTENT_TYPE
from shared.messaging.topology import declare_publisher_topology, events_exchange
from tests.conftest import AMQP_URI
from tests.support.signed import event_headers


def publish(*events: CloudEvent) -> None:
    with Connection(AMQP_URI, transport_options={"confirm_publish": True}) as connection:
        for source in {event.source for event in events}:
            declare_publisher_topology(connection, service_of(source))
        for event in events:
            producer = Producer(connection.default_channel, exchange=events_exchange(service_of(event.source)))
            producer.publish(
                event.to_bytes(), routing_key=event.type, content_type=CLOUDEVENTS_CONTENT_TYPE,
                content_encoding="utf-8", delivery_mode=2, message_id=event.id, retry=True,
                headers=event_headers(event),
            )
