"""Nothing is lost and nothing is applied twice: crashes, redeliveries, a broker restart, poison events."""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

import messaging_support as support
import pytest
from kombu import Connection, Exchange
from nameko.testing.services import entrypoint_hook
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from conftest import AMQP, SESSION, declared_queues, wait_for
from shared.messaging import ConsentRequired, OutboxRelay, RpcTimeout, outbox_backlog, record
from shared.messaging import dlq as dead_letters
from shared.messaging.metrics import dead_letter_depth, duplicates_absorbed, handler_failures
from shared.messaging.tables import TABLES
from shared.messaging.topology import declare_publisher_topology
from tests.support.signed import rpc_headers


def commit_events(url: str, publisher: str, numbers: range, program: str = "general") -> None:
    """What a publishing service does: state change and outbox rows in one transaction."""
    engine = create_engine(url)
    with Session(engine) as session:
        for n in numbers:
            session.add(support.Thing(case_id=f"case-{n}"))
            record(
                session,
                support.case_opened(n, program=program),
                service=publisher,
                context={"sub": "prosecutor-7", "roles": ["screener"]},
            )
        session.commit()
    engine.dispose()


def unsent(url: str) -> int:
    engine = create_engine(url)
    try:
        return outbox_backlog(engine)
    finally:
        engine.dispose()


def fire_rpc(amqp: str, service: str, method: str, *args: Any) -> None:
    """Send an RPC request nobody waits for (the callee is about to be killed)."""
    payload = {"args": list(args), "kwargs": {}}
    correlation_id = str(uuid.uuid4())
    with Connection(amqp) as connection:
        producer = connection.Producer()
        producer.publish(
            payload,
            exchange=Exchange("nameko-rpc", type="topic", durable=True),
            routing_key=f"{service}.{method}",
            serializer="json",
            correlation_id=correlation_id,
            headers=rpc_headers(payload, correlation_id, {}),
        )


def start_consumer(container_factory: Any, name: str, source: str, url: str, amqp: str = AMQP) -> Any:
    container = container_factory(support.make_consumer(name, source), support.config(amqp, url))
    container.start()
    return container


def test_event_committed_just_before_a_crash_is_published_after_restart(
    names: Any, databases: dict[str, str], service_process: Any, container_factory: Any
) -> None:
    publisher, consumer = names("pub"), names("con")
    start_consumer(container_factory, consumer, publisher, databases["con"])
    crashing = service_process("publisher", publisher, amqp=AMQP, db=databases["pub"], fault="after_commit").start()

    fire_rpc(AMQP, publisher, "open_cases", 0, 5)
    crashing.wait_dead(30)
    assert unsent(databases["pub"]) == 5  # committed, never published
    assert support.effects(databases["con"], consumer) == (0, 0)
    with Connection(AMQP) as connection:  # the caller gave up on its request; do not run the command twice
        connection.channel().queue_purge(f"diversion.{publisher}.rpc")

    service_process("publisher", publisher, amqp=AMQP, db=databases["pub"]).start()
    wait_for(lambda: support.effects(databases["con"], consumer) == (5, 5), 30, "5 cases handled after restart")
    wait_for(lambda: unsent(databases["pub"]) == 0, 10, "outbox marked sent")


def test_event_republished_after_a_crash_between_confirm_and_mark_is_applied_once(
    names: Any, databases: dict[str, str], service_process: Any, container_factory: Any
) -> None:
    publisher, consumer = names("pub"), names("con")
    start_consumer(container_factory, consumer, publisher, databases["con"])
    crashing = service_process("publisher", publisher, amqp=AMQP, db=databases["pub"], fault="after_confirm").start()
    commit_events(databases["pub"], publisher, range(20))
    crashing.wait_dead(30)
    assert unsent(databases["pub"]) == 20  # confirmed by the broker but not marked: will be sent again
    wait_for(lambda: support.effects(databases["con"], consumer) == (20, 20), 30, "first delivery handled")

    service_process("publisher", publisher, amqp=AMQP, db=databases["pub"]).start()
    wait_for(lambda: unsent(databases["pub"]) == 0, 30, "republished")
    wait_for(lambda: duplicates_absorbed(consumer) >= 20, 30, "the 20 duplicates to reach the inbox")
    assert support.effects(databases["con"], consumer) == (20, 20)


def test_consumer_killed_mid_run_applies_each_of_1000_events_exactly_once(
    names: Any, databases: dict[str, str], service_process: Any
) -> None:
    publisher, consumer = names("pub"), names("con")
    # 10 ms of work per event: the 1,000 events take at least 10 s, so a kill after 150 lands mid-run by
    # construction however fast the batched consumer gets. The restarted consumer runs at full speed.
    process = service_process(
        "consumer", consumer, amqp=AMQP, db=databases["con"], source=publisher, pace=0.01
    ).start()
    for start in range(0, 1000, 100):
        commit_events(databases["pub"], publisher, range(start, start + 100))
    engine = create_engine(databases["pub"])
    relay = OutboxRelay(engine, AMQP, publisher)
    assert relay.drain() == 1000
    relay.close()
    engine.dispose()

    wait_for(lambda: support.effects(databases["con"], consumer)[0] >= 150, 60, "the consumer to be busy")
    process.kill()
    halfway = support.effects(databases["con"], consumer)[0]
    assert halfway < 1000, "the kill must land mid-run"
    service_process("consumer", consumer, amqp=AMQP, db=databases["con"], source=publisher).start()
    wait_for(lambda: support.effects(databases["con"], consumer)[1] == 1000, 120, "all 1000 events handled")
    assert support.effects(databases["con"], consumer) == (1000, 1000)


def test_broker_restart_during_1000_events_loses_nothing_and_services_reconnect(
    names: Any, databases: dict[str, str], service_process: Any, own_broker: Any
) -> None:
    publisher, consumer = names("pub"), names("con")
    service_process("consumer", consumer, amqp=own_broker.uri, db=databases["con"], source=publisher).start()
    service_process("publisher", publisher, amqp=own_broker.uri, db=databases["pub"]).start()
    errors: list[BaseException] = []

    def keep_committing() -> None:
        try:
            for start in range(0, 1000, 25):
                commit_events(databases["pub"], publisher, range(start, start + 25))
                time.sleep(0.02)  # pacing the producer, not waiting for a condition
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)

    writer = threading.Thread(target=keep_committing)
    writer.start()
    wait_for(lambda: support.effects(databases["con"], consumer)[0] >= 100, 60, "events flowing")
    own_broker.stop()
    own_broker.start()
    writer.join(120)
    assert not errors
    wait_for(lambda: support.effects(databases["con"], consumer)[1] == 1000, 120, "all 1000 events after restart")
    assert support.effects(databases["con"], consumer) == (1000, 1000)
    assert unsent(databases["pub"]) == 0


def test_poison_event_is_dead_lettered_after_the_limit_while_others_flow(
    names: Any, databases: dict[str, str], container_factory: Any
) -> None:
    publisher, consumer = names("pub"), names("con")
    start_consumer(container_factory, consumer, publisher, databases["con"])
    commit_events(databases["pub"], publisher, range(0, 1), program=support.POISON)
    commit_events(databases["pub"], publisher, range(1, 41))
    engine = create_engine(databases["pub"])
    OutboxRelay(engine, AMQP, publisher).drain()
    engine.dispose()

    wait_for(lambda: support.effects(databases["con"], consumer) == (40, 40), 30, "the good events")
    wait_for(lambda: dead_letter_depth(AMQP, consumer) == 1, 30, "the poison event in the DLQ")
    assert handler_failures(consumer, "on_case_opened") == 3  # DIVERSION_DELIVERY_LIMIT=3 attempts

    [letter] = dead_letters.list_dead_letters(AMQP, consumer)
    assert letter.event_type == "org.diversion.casework.case.opened"
    assert "cannot handle program 'poison'" in (letter.error or "")
    assert letter.attempts == 3
    assert letter.original_queue and letter.original_queue.startswith(f"diversion.{consumer}.on_case_opened")

    # The operator fixes the cause and replays: the event goes back to its queue and is applied once.
    support.POISON = "something-else"
    try:
        assert dead_letters.replay_dead_letters(AMQP, consumer) == [letter.event_id]
        wait_for(lambda: support.effects(databases["con"], consumer) == (41, 41), 30, "the replayed event")
    finally:
        support.POISON = "poison"
    assert dead_letter_depth(AMQP, consumer) == 0


def test_handler_sees_the_tenant_actor_and_trace_of_the_event(
    names: Any, databases: dict[str, str], container_factory: Any
) -> None:
    publisher, consumer = names("pub"), names("con")
    start_consumer(container_factory, consumer, publisher, databases["con"])
    commit_events(databases["pub"], publisher, range(1))
    engine = create_engine(databases["pub"])
    OutboxRelay(engine, AMQP, publisher).drain()
    engine.dispose()
    wait_for(lambda: support.effects(databases["con"], consumer) == (1, 1), 30, "the event")
    engine = create_engine(databases["con"])
    with Session(engine) as session:
        effect = session.scalars(select(support.Effect)).one()
        inbox = session.execute(select(func.count()).select_from(TABLES.inbox)).scalar_one()
    engine.dispose()
    assert (effect.agency, effect.actor, effect.traceparent) == ("stl-cao", "prosecutor-7", support.TRACEPARENT)
    assert inbox == 1


def test_event_published_before_any_consumer_exists_is_kept(names: Any, databases: dict[str, str]) -> None:
    publisher = names("pub")
    commit_events(databases["pub"], publisher, range(3))
    engine = create_engine(databases["pub"])
    assert OutboxRelay(engine, AMQP, publisher).drain() == 3
    engine.dispose()
    with Connection(AMQP) as connection:
        _name, kept, _consumers = connection.channel().queue_declare(f"diversion.{publisher}.unrouted", passive=True)
    assert kept == 3


def test_a_nacked_batch_is_retried_on_a_new_connection_and_nothing_is_lost(
    names: Any, databases: dict[str, str]
) -> None:
    """The relay keeps nacked rows for the next batch and drops its connection first: a channel can keep
    being nacked after a quorum queue's leader moved (seen in the cluster test), a new one is not."""
    publisher = names("pub")
    queue = f"diversion.{publisher}.bounded"
    with Connection(AMQP) as connection:
        declare_publisher_topology(connection, publisher)
        channel = connection.channel()
        channel.queue_declare(queue, durable=True, auto_delete=False, arguments={
            "x-queue-type": "classic", "x-max-length": 2, "x-overflow": "reject-publish"})  # exact: nacks the 3rd
        channel.queue_bind(queue, f"diversion.{publisher}.events", "#")
    try:
        commit_events(databases["pub"], publisher, range(3))
        engine = create_engine(databases["pub"])
        relay = OutboxRelay(engine, AMQP, publisher)
        assert relay.publish_batch() == 2  # the third is nacked: the queue is full
        assert relay._connection is None  # dropped: the retry goes out on a new connection
        with engine.connect() as db:
            pending = db.execute(select(TABLES.outbox.c.last_error).where(TABLES.outbox.c.sent_at.is_(None))).all()
        assert [row.last_error for row in pending] == ["nacked by the broker"]
        with Connection(AMQP) as connection:
            connection.channel().queue_purge(queue)
        assert relay.publish_batch() == 1 and relay._connection is not None
        assert relay.publish_batch() == 0
        relay.close()
        engine.dispose()
    finally:
        with Connection(AMQP) as connection:
            connection.channel().queue_delete(queue)


def test_rpc_carries_identity_raises_typed_errors_and_times_out_on_a_stopped_service(
    names: Any, container_factory: Any
) -> None:
    callee, caller = names("consent"), names("caller")
    consents = container_factory(support.make_consent_service(callee), support.config(AMQP, "sqlite://"))
    consents.start()
    calls = container_factory(support.make_caller(caller, callee, timeout=1.5), support.config(AMQP, "sqlite://"))
    calls.start()
    identity = {"agency": "stl-cao", "sub": "cm-12", "roles": ["case_manager"]}

    with entrypoint_hook(calls, "ask", context_data=identity) as ask:
        assert ask("someone") == {"ok": True, "agency": "stl-cao", "sub": "cm-12"}
        with pytest.raises(ConsentRequired):
            ask("nobody")

    consents.stop()
    with entrypoint_hook(calls, "ask", context_data=identity) as ask:
        started = time.monotonic()
        with pytest.raises(RpcTimeout):
            ask("someone")
        assert 1.4 < time.monotonic() - started < 5.0  # timeout 1.5 s; slack for a loaded CI machine


def test_every_queue_the_suite_declares_is_a_quorum_queue_with_a_dead_letter_exchange(
    names: Any, databases: dict[str, str], container_factory: Any
) -> None:
    # Declares each kind itself (a handler with its dead-letter queue, an RPC service, a publisher's unrouted
    # queue), so it depends on no other test and on nothing left on the broker.
    publisher = names("pub")
    start_consumer(container_factory, names("con"), publisher, databases["con"])
    container_factory(support.make_consent_service(names("rpc")), support.config(AMQP, "sqlite://")).start()
    commit_events(databases["pub"], publisher, range(1))
    engine = create_engine(databases["pub"])
    OutboxRelay(engine, AMQP, publisher).drain()
    engine.dispose()
    queues = declared_queues(f"diversion.{SESSION}")
    kinds = {name.rsplit(".", 1)[-1] if name.endswith((".dlq", ".unrouted", ".rpc")) else "" for name, *_ in queues}
    assert {"dlq", "unrouted", "rpc"} <= kinds
    for name, queue_type, arguments in queues:
        assert queue_type == "quorum", name
        if name.endswith((".dlq", ".unrouted", ".dropped")):  # bounded (ADR 0085)
            assert "x-max-length" in arguments and "x-message-ttl" in arguments, name
        if name.endswith(".dropped"):
            continue  # the end of the line: what the bounds dropped, counted and discarded by the drain
        assert "x-dead-letter-exchange" in arguments, name  # the dlq's: where its bound drops to
        if "--" in name:  # a reliable handler's queue
            assert "x-delivery-limit" in arguments, name
    json.dumps(queues)
