"""Names and declarations of every exchange and queue the messaging layer uses.

Each publishing service owns a durable topic exchange whose alternate exchange keeps events nobody is
bound for; each consuming service owns a dead-letter exchange and queue. All queues are quorum queues. The unrouted and
dead-letter queues are bounded in length and age (shared/messaging/bounds.py, ADR 0085): what a bound drops
goes to the owner's `diversion.<service>.dropped` queue, where the records upkeep counts it.
"""

from __future__ import annotations

from typing import Any

from kombu import Connection, Exchange, Queue

from shared.messaging.bounds import Bounds, declare_bounded, declare_dropped, queue_arguments
from shared.messaging.catalog import EventSpec


def events_exchange_name(service: str) -> str:
    return f"diversion.{service}.events"


def unrouted_name(service: str) -> str:
    """Alternate exchange and queue for events published while no queue was bound."""
    return f"diversion.{service}.unrouted"


def dlx_name(service: str) -> str:
    return f"diversion.{service}.dlx"


def dlq_name(service: str) -> str:
    return f"diversion.{service}.dlq"


def handler_queue_name(service: str, source: str, spec: EventSpec, method: str) -> str:
    return f"diversion.{service}.{method}--{source}.{spec.name}"


def quorum_arguments(service: str, delivery_limit: int | None = None) -> dict[str, Any]:
    """Arguments for a queue of `service`: quorum, its dead-letter exchange, and a delivery limit."""
    args: dict[str, Any] = {"x-queue-type": "quorum", "x-dead-letter-exchange": dlx_name(service)}
    if delivery_limit is not None:
        args["x-delivery-limit"] = delivery_limit
    return args


def events_exchange(service: str) -> Exchange:
    return Exchange(
        events_exchange_name(service),
        type="topic",
        durable=True,
        arguments={"alternate-exchange": unrouted_name(service)},
    )


def dead_letter_exchange(service: str) -> Exchange:
    return Exchange(dlx_name(service), type="fanout", durable=True)


def dead_letter_queue(service: str, bounds: Bounds | None = None) -> Queue:
    # The end of the line: nothing rejects from it and `dlq replay` moves messages back out; only its
    # bound (length, age) dead-letters, to the service's `dropped` queue, never back to its dlx.
    return Queue(
        dlq_name(service),
        exchange=dead_letter_exchange(service),
        durable=True,
        queue_arguments=queue_arguments("dlq", service, bounds),
    )


def unrouted_queue(service: str, bounds: Bounds | None = None) -> Queue:
    return Queue(
        unrouted_name(service),
        exchange=Exchange(unrouted_name(service), type="fanout", durable=True),
        durable=True,
        queue_arguments=queue_arguments("unrouted", service, bounds),
    )


def declare_publisher_topology(connection: Connection, service: str, bounds: Bounds | None = None) -> None:
    """Declare a publisher's exchange (and its alternate) before the first event goes out."""
    declare_consumer_topology(connection, service, bounds)
    declare_bounded(connection, unrouted_queue(service, bounds))
    events_exchange(service).declare(channel=connection.default_channel)


def declare_consumer_topology(connection: Connection, service: str, bounds: Bounds | None = None) -> None:
    declare_dropped(connection, service, bounds)
    declare_bounded(connection, dead_letter_queue(service, bounds))
