"""AMQP partner feed on the real RabbitMQ: quorum queue per partner, only that partner's events."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator

import pytest
from amqp.exceptions import PreconditionFailed
from kombu import Connection, Queue

from services.notifications.channels import AttemptStatus, Message
from services.notifications.channels.amqp_feed import (
    AmqpFeedChannel,
    InvalidFeedName,
    ensure_partner_feed,
    feed_exchange,
)

AMQP_URI = os.environ.get("DIVERSION_TEST_AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/")


@pytest.fixture
def names() -> Iterator[dict[str, str]]:
    suffix = uuid.uuid4().hex[:10]
    created = {"agency": f"test-{suffix}", "org_a": f"orga-{suffix}", "org_b": f"orgb-{suffix}"}
    yield created
    with Connection(AMQP_URI) as connection:
        channel = connection.channel()
        for org in (created["org_a"], created["org_b"]):
            channel.queue_delete(f"partner.{org}.feed")
        channel.exchange_delete(feed_exchange(created["agency"]).name)
        channel.close()


def get_all(
    connection: Connection, queue_name: str, expected: int, deadline_s: float = 5.0
) -> list[dict[str, str]]:
    """Poll the queue until `expected` messages arrived (or the deadline), then drain what is left."""
    queue = Queue(queue_name, no_declare=True)(connection.default_channel)
    bodies: list[dict[str, str]] = []
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        message = queue.get(no_ack=True)
        if message is None:
            if len(bodies) >= expected:
                break
            continue
        bodies.append(json.loads(message.body))
    return bodies


def test_each_partner_reads_only_its_own_events(names: dict[str, str]) -> None:
    feed = AmqpFeedChannel(AMQP_URI)
    try:
        for org in (names["org_a"], names["org_b"]):
            result = feed.send(
                Message(
                    id=f"evt-{org}",
                    recipient=org,
                    tenant=names["agency"],
                    event_type="org.diversion.resources.service_referral.requested",
                    body=json.dumps({"id": f"evt-{org}", "partner": org}),
                )
            )
            assert result.status is AttemptStatus.DELIVERED
    finally:
        feed.close()

    with Connection(AMQP_URI) as connection:
        a_events = get_all(connection, f"partner.{names['org_a']}.feed", expected=1)
        b_events = get_all(connection, f"partner.{names['org_b']}.feed", expected=1)
    assert [event["partner"] for event in a_events] == [names["org_a"]]
    assert [event["partner"] for event in b_events] == [names["org_b"]]


def test_partner_queue_is_a_durable_quorum_queue_bound_to_its_own_key(names: dict[str, str]) -> None:
    with Connection(AMQP_URI) as connection:
        feed = ensure_partner_feed(connection, names["org_a"], names["agency"])
        assert feed.queue.name == f"partner.{names['org_a']}.feed"
        assert feed.binding_key == f"partner.{names['org_a']}.#"
        assert feed.exchange.type == "topic"
        assert feed.exchange.name == f"agency.{names['agency']}.partner_feed"
        # The broker refuses to redeclare it as a classic queue (its bound otherwise the same, ADR 0085):
        # proof of its type on the server.
        channel = connection.channel()
        with pytest.raises(PreconditionFailed, match="x-queue-type"):
            channel.queue_declare(
                feed.queue.name, durable=True, auto_delete=False,
                arguments={**feed.queue.queue_arguments, "x-queue-type": "classic"},
            )
        # Declaring it again the same way is harmless (registration may run twice).
        ensure_partner_feed(connection, names["org_a"], names["agency"])


def test_an_organization_id_that_could_widen_the_binding_is_refused(names: dict[str, str]) -> None:
    with Connection(AMQP_URI) as connection:
        for bad in ("a.b", "a#", "*", ""):
            with pytest.raises(InvalidFeedName):
                ensure_partner_feed(connection, bad, names["agency"])
    feed = AmqpFeedChannel(AMQP_URI)
    result = feed.send(Message(id="x", recipient="a.b", tenant=names["agency"], body="{}"))
    feed.close()
    assert result.status is AttemptStatus.FAILED


def test_unreachable_broker_asks_for_a_retry() -> None:
    feed = AmqpFeedChannel("amqp://guest:guest@127.0.0.1:1/", confirm_timeout_seconds=1)
    result = feed.send(Message(id="x", recipient="orga", tenant="agency", body="{}"))
    assert result.status is AttemptStatus.RETRY
