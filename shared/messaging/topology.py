"""Names and declarations of every exchange and queue the messaging layer uses.

Each publishing service owns a durable topic exchange whose alternate exchange keeps events nobody is
bound for; each consuming service owns a dead-letter exchange and queue. All queues are quorum queues.
"""

from __future__ import annotations

from typing import Any

from kombu import Connection, Exchange, Queue

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


def dead_letter_queue(service: str) -> Queue:
    # The end of the line: it has no dead-letter exchange of its own (that would loop), nothing
    # rejects from it, and `dlq replay` moves messages back out.
    return Queue(
        dlq_name(service),
        exchange=dead_letter_exchange(service),
        durable=True,
        queue_arguments={"x-queue-type": "quorum"},
    )


def unrouted_queue(service: str) -> Queue:
    return Queue(
        unrouted_name(service),
        exchange=Exchange(unrouted_name(service), type="fanout", durable=True),
        durable=True,
        queue_arguments=quorum_arguments(service),
    )


def declare_publisher_topology(connection: Connection, service: str) -> None:
    """Declare a publisher's exchange (and its alternate) before the first event goes out."""
    declare_consumer_topology(connection, service)
    channel = connection.default_channel
    unrouted = unrouted_queue(service)
    unrouted.exchange.declare(channel=channel)
    unrouted.declare(channel=channel)
    events_exchange(service).declare(channel=channel)


def declare_consumer_topology(connection: Connection, service: str) -> None:
    channel = connection.default_channel
    queue = dead_letter_queue(service)
    queue.exchange.declare(channel=channel)
    queue.declare(channel=channel)
