"""Events applied in batches (one transaction per batch): poison events, copies and self-committing handlers.

Each test publishes while its consumer is stopped, so the consumer finds everything at hand when it
starts and takes it in batches.
"""

from __future__ import annotations

from typing import Any

import messaging_support as support
from kombu import Connection, Producer

from conftest import AMQP, wait_for
from shared.messaging.metrics import dead_letter_depth, duplicates_absorbed, event_batches, handler_failures
from shared.messaging.outbox import CLOUDEVENTS_CONTENT_TYPE
from shared.messaging.topology import declare_publisher_topology, events_exchange
from tests.support.signed import event_headers


def publish(publisher: str, events: list[Any]) -> None:
    """What a relay does (confirmed publishes), but of exactly these events, copies included."""
    with Connection(AMQP, transport_options={"confirm_publish": True}) as connection:
        declare_publisher_topology(connection, publisher)
        producer = Producer(connection.default_channel, exchange=events_exchange(publisher))
        for event in events:
            producer.publish(event.to_bytes(), routing_key=event.type, content_type=CLOUDEVENTS_CONTENT_TYPE,
                             content_encoding="utf-8", delivery_mode=2, message_id=event.id,
                             headers=event_headers(event, signer=publisher))


def consumer_container(container_factory: Any, name: str, source: str, url: str, batch_size: int | None = None) -> Any:
    container = container_factory(support.make_consumer(name, source), support.config(AMQP, url, batch_size=batch_size))
    container.start()
    return container


def test_a_batch_with_a_poison_event_copies_and_self_committing_handlers_applies_each_good_event_once(
    names: Any, databases: dict[str, str], container_factory: Any
) -> None:
    publisher, consumer = names("pub"), names("con")
    consumer_container(container_factory, consumer, publisher, databases["con"]).stop()  # declares the queue

    committing = [support.case_opened(n, program=support.COMMITS_ITSELF) for n in range(20)]
    poison = support.case_opened(20, program=support.POISON)
    plain = [support.case_opened(n) for n in range(21, 41)]
    copies = committing[:5] + plain[:5]
    publish(publisher, [*committing, poison, *plain, *copies])
    consumer_container(container_factory, consumer, publisher, databases["con"])

    # The poison event rolls its batch back, self-committed effects included (a handler's own commit
    # only flushes inside a batch): applied one by one, every good event counts once, copies none.
    wait_for(lambda: support.effects(databases["con"], consumer) == (40, 40), 30, "the 40 good events")
    wait_for(lambda: dead_letter_depth(AMQP, consumer) == 1, 30, "the poison event in the DLQ")
    wait_for(lambda: duplicates_absorbed(consumer) == 10, 30, "the 10 copies turned away")
    assert handler_failures(consumer, "on_case_opened") == 3  # DIVERSION_DELIVERY_LIMIT=3 attempts, then DLQ
    assert event_batches(consumer, "rolled_back") >= 1
    assert support.effects(databases["con"], consumer) == (40, 40)


def test_events_already_applied_that_come_back_in_a_batch_are_acked_and_not_applied_again(
    names: Any, databases: dict[str, str], container_factory: Any
) -> None:
    publisher, consumer = names("pub"), names("con")
    consumer_container(container_factory, consumer, publisher, databases["con"]).stop()
    first = [support.case_opened(n) for n in range(30)]
    publish(publisher, first)
    running = consumer_container(container_factory, consumer, publisher, databases["con"])
    wait_for(lambda: support.effects(databases["con"], consumer) == (30, 30), 30, "the first 30 events")
    assert event_batches(consumer, "committed") >= 1
    running.stop()

    publish(publisher, [*first[:10], *[support.case_opened(n) for n in range(30, 40)], *first[10:20]])
    consumer_container(container_factory, consumer, publisher, databases["con"])
    wait_for(lambda: support.effects(databases["con"], consumer) == (40, 40), 30, "the 10 new events")
    wait_for(lambda: duplicates_absorbed(consumer) == 20, 30, "the 20 redelivered events turned away")
    assert event_batches(consumer, "rolled_back") == 0  # the inbox check ahead of the batch caught them
    assert support.effects(databases["con"], consumer) == (40, 40)


def test_one_by_one_without_an_inbox_select_first_still_turns_copies_away(
    names: Any, databases: dict[str, str], container_factory: Any
) -> None:
    publisher, consumer = names("pub"), names("con")
    consumer_container(container_factory, consumer, publisher, databases["con"], batch_size=1).stop()
    events = [support.case_opened(n) for n in range(10)]
    publish(publisher, [*events, *events[:4], support.case_opened(10, program=support.POISON)])
    consumer_container(container_factory, consumer, publisher, databases["con"], batch_size=1)

    wait_for(lambda: support.effects(databases["con"], consumer) == (10, 10), 30, "the 10 events")
    wait_for(lambda: duplicates_absorbed(consumer) == 4, 30, "the 4 copies turned away at commit")
    wait_for(lambda: dead_letter_depth(AMQP, consumer) == 1, 30, "the poison event in the DLQ")
    assert event_batches(consumer, "committed") == event_batches(consumer, "rolled_back") == 0
    assert support.effects(databases["con"], consumer) == (10, 10)
