"""Queue bounds on the real broker (ADR 0085): an unrouted queue over its length drops the oldest and the drain
counts exactly those; an expired message is counted as expired; a partner feed over its bound gives its agency
an audit entry with the count; a queue an older release declared without the bound is redeclared without error
(one WARNING) and the definitions' policy bounds it."""

from __future__ import annotations

import json
import logging
import subprocess
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kombu import Connection, Exchange, Producer, Queue
from sqlalchemy import MetaData, create_engine, select
from sqlalchemy.engine import Engine

from conftest import AMQP, VHOST, wait_for
from services.notifications.channels.amqp_feed import ensure_partner_feed, feed_exchange, feed_routing_key
from shared.audit import AUDIT_TABLE, audit_table
from shared.config import CommonSettings
from shared.messaging import metrics
from shared.messaging.bounds import Bound, Bounds, drain_dropped, dropped_name, policies
from shared.messaging.topology import declare_publisher_topology, dlq_name, dlx_name, unrouted_name

HOUR = 3600.0


def _bounds(unrouted: Bound = Bound(1000, HOUR), feed: Bound = Bound(1000, HOUR)) -> Bounds:
    return Bounds(unrouted=unrouted, dlq=Bound(1000, HOUR), partner_feed=feed, dropped=Bound(1000, HOUR))


def _publish(exchange: Exchange, bodies: list[str], routing_key: str = "") -> None:
    with Connection(AMQP, transport_options={"confirm_publish": True}) as connection:
        producer = Producer(connection.default_channel, exchange=exchange)
        for body in bodies:
            producer.publish(body, routing_key=routing_key, delivery_mode=2, retry=False)


def _depth(queue: str) -> int:
    with Connection(AMQP) as connection:
        channel = connection.channel()
        _name, count, _consumers = channel.queue_declare(queue, passive=True)
        channel.close()
        return int(count)


def _drain_until(service: str, expected: int, engine: Engine | None = None) -> Counter[tuple[str, str]]:
    """Drain rounds until `expected` drops were counted (the broker dead-letters asynchronously)."""
    seen: Counter[tuple[str, str]] = Counter()

    def enough() -> bool:
        seen.update(drain_dropped(AMQP, service, engine).counts)
        return sum(seen.values()) >= expected

    wait_for(enough, 20, f"{expected} dropped message(s) of {service}", every=0.1)
    assert sum(drain_dropped(AMQP, service, engine).counts.values()) == 0  # nothing more than that
    return seen


@pytest.fixture
def service(names: Callable[[str], str]) -> str:
    return names("bnd")


def test_an_unrouted_queue_over_its_length_drops_the_oldest_and_the_drain_counts_them(service: str) -> None:
    with Connection(AMQP) as connection:
        declare_publisher_topology(connection, service, _bounds(unrouted=Bound(3, HOUR)))
    _publish(Exchange(unrouted_name(service), type="fanout"), [f"event-{n}" for n in range(5)])

    seen = _drain_until(service, 2)
    assert seen == Counter({(unrouted_name(service), "maxlen"): 2})
    assert metrics.bound_dropped(service, unrouted_name(service), "maxlen") == 2
    assert _depth(dropped_name(service)) == 0  # discarded once counted
    with Connection(AMQP) as connection:
        channel = connection.channel()
        kept = [channel.basic_get(unrouted_name(service), no_ack=True).body for _ in range(3)]
        channel.close()
    assert kept == ["event-2", "event-3", "event-4"]  # the oldest two went
    family = {m.name: m for m in metrics.MessagingCollector(service, None, None).collect()}
    sample = family[f"diversion_{service}_bound_dropped_messages"].samples[0]
    assert (sample.labels, sample.value) == ({"queue": unrouted_name(service), "reason": "maxlen"}, 2)


def test_a_drain_streams_a_large_backlog_and_leaves_what_is_past_its_limit(service: str) -> None:
    """More drops than the prefetch window: one round counts them all; a round's limit leaves the rest queued."""
    with Connection(AMQP) as connection:
        declare_publisher_topology(connection, service, Bounds(
            unrouted=Bound(1, HOUR), dlq=Bound(1000, HOUR), partner_feed=Bound(1000, HOUR), dropped=Bound(5000, HOUR)))
    _publish(Exchange(unrouted_name(service), type="fanout"), [f"event-{n}" for n in range(1601)])
    wait_for(lambda: _depth(dropped_name(service)) == 1600, 20, "1,600 messages dead-lettered", every=0.1)

    first = drain_dropped(AMQP, service, limit=1100)
    assert first.counts == Counter({(unrouted_name(service), "maxlen"): 1100})
    assert _depth(dropped_name(service)) == 500  # past the limit: requeued, not lost and not acknowledged
    rest = drain_dropped(AMQP, service)
    assert rest.counts == Counter({(unrouted_name(service), "maxlen"): 500})
    assert _depth(dropped_name(service)) == 0


def test_a_message_past_its_age_is_counted_as_expired(service: str) -> None:
    settings = CommonSettings(unrouted_max_age_seconds=0.05)
    with Connection(AMQP) as connection:
        declare_publisher_topology(connection, service, Bounds.from_settings(settings))
    _publish(Exchange(unrouted_name(service), type="fanout"), ["old-1", "old-2"])

    seen = _drain_until(service, 2)
    assert seen == Counter({(unrouted_name(service), "expired"): 2})
    assert metrics.bound_dropped(service, reason="expired") == 2
    assert _depth(unrouted_name(service)) == 0


@pytest.fixture
def audit_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = create_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    audit_table(MetaData()).metadata.create_all(engine)
    yield engine
    engine.dispose()


def test_a_partner_feed_over_its_bound_is_reported_to_the_agency(audit_engine: Engine) -> None:
    org, agency = f"org-{uuid.uuid4().hex[:8]}", f"agency-{uuid.uuid4().hex[:8]}"
    with Connection(AMQP) as connection:
        feed = ensure_partner_feed(connection, org, agency, _bounds(feed=Bound(2, HOUR)))
    try:
        _publish(feed_exchange(agency), [f"confidential-{n}" for n in range(6)],
                 routing_key=feed_routing_key(org, "org.diversion.intake.referral.received"))
        seen = _drain_until("notifications", 4, audit_engine)
        assert seen[(f"partner.{org}.feed", "maxlen")] == 4
        with audit_engine.connect() as connection:
            table = MetaData()
            table.reflect(connection, only=[AUDIT_TABLE])
            rows = connection.execute(select(table.tables[AUDIT_TABLE])).mappings().all()
        assert [(r["agency_id"], r["action"], r["resource_id"]) for r in rows] == [
            (agency, "partner_feed.dropped", org)]
        detail = rows[0]["detail"]
        detail = json.loads(detail) if isinstance(detail, str) else detail
        assert detail == {"queue": f"partner.{org}.feed", "counts": {"maxlen": 4}}
        assert "confidential" not in json.dumps(detail)  # counts only, never the payload
        assert _depth(f"partner.{org}.feed") == 2
    finally:
        with Connection(AMQP) as connection:
            channel = connection.channel()
            channel.queue_delete(feed.queue.name)
            channel.exchange_delete(feed.exchange.name)
            channel.close()


def _ctl(*args: str) -> str:
    return subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=60,
                          check=True).stdout


def test_a_queue_declared_before_the_bound_is_redeclared_and_the_policy_bounds_it(
        service: str, caplog: pytest.LogCaptureFixture) -> None:
    # What the previous release declared: quorum queues with a dead-letter exchange, no bound.
    with Connection(AMQP) as connection:
        channel = connection.channel()
        for name, args in ((dlq_name(service), {"x-queue-type": "quorum"}),
                           (unrouted_name(service), {"x-queue-type": "quorum", "x-dead-letter-exchange":
                                                     dlx_name(service)})):
            Queue(name, exchange=Exchange(name if "unrouted" in name else dlx_name(service), type="fanout",
                                          durable=True), durable=True, queue_arguments=args)(channel).declare()
        channel.close()

    with caplog.at_level(logging.WARNING, logger="shared.messaging.bounds"), Connection(AMQP) as connection:
        declare_publisher_topology(connection, service, _bounds(unrouted=Bound(2, HOUR)))
        declare_publisher_topology(connection, service, _bounds(unrouted=Bound(2, HOUR)))  # a second start
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert [m for m in warned if unrouted_name(service) in m and "predates its bound" in m] != []
    assert len([m for m in warned if unrouted_name(service) in m]) == 1  # once per queue, not per declare
    _publish(Exchange(unrouted_name(service), type="fanout"), ["still-kept"])  # the service keeps working
    assert wait_for(lambda: _depth(unrouted_name(service)) == 1, 10, "the event kept")

    # The deployment's policy (the definitions file's, for this service and vhost) bounds the old queue.
    for policy in policies(VHOST, _bounds(unrouted=Bound(2, HOUR)), services=(service,)):
        _ctl("set_policy", "-p", VHOST, "--apply-to", policy["apply-to"], "--priority", str(policy["priority"]),
             policy["name"], policy["pattern"], json.dumps(policy["definition"]))
    try:
        wait_for(lambda: f"{unrouted_name(service)}\tdiversion-{service}-unrouted-bound" in _ctl(
            "list_queues", "-p", VHOST, "name", "policy", "--no-table-headers"), 20, "the policy applied")
        _publish(Exchange(unrouted_name(service), type="fanout"), ["a", "b", "c"])
        wait_for(lambda: _depth(unrouted_name(service)) == 2, 20, "the policy's bound on the old queue")
    finally:
        for policy in policies(VHOST, services=(service,)):
            _ctl("clear_policy", "-p", VHOST, policy["name"])
