"""Messaging benchmark (`make bench-messaging`): raw broker rate as the limit, our pipeline, and latency.

1. raw broker: kombu publishing the same event size with publisher confirms (one confirm per message, and
   streamed with batched confirms like the relay), then consuming it with acks;
2. pipeline: commit with outbox row on PostgreSQL -> relay -> reliable consumer -> inbox row, in events/s;
3. p50/p99 commit->handled latency at a steady 200 events/s.
Needs PostgreSQL (DIVERSION_BENCH_PG_ADMIN) and RabbitMQ (DIVERSION_BENCH_AMQP_URI); cleans up after itself.
"""

from __future__ import annotations

import eventlet

eventlet.monkey_patch()

import os  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import subprocess  # noqa: E402

import psycopg2  # noqa: E402
from amqp import Message  # noqa: E402
from kombu import Connection, Queue  # noqa: E402
from nameko.containers import ServiceContainer  # noqa: E402
from nameko.testing.services import entrypoint_hook  # noqa: E402
from notifications import cpu_seconds, postgres_pids  # noqa: E402  (bench/notifications.py: /proc figures)
from sqlalchemy import MetaData, create_engine, func, select  # noqa: E402
from sqlalchemy.orm import DeclarativeBase  # noqa: E402

from shared.config import load_settings  # noqa: E402
from shared.db import Database  # noqa: E402
from shared.messaging import Outbox, new_event, reliable_handler, rpc  # noqa: E402
from shared.messaging.catalog import CaseOpened  # noqa: E402
from shared.messaging.tables import TABLES, add_messaging_tables  # noqa: E402

PG_ADMIN = os.environ.get("DIVERSION_BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
AMQP = os.environ.get("DIVERSION_BENCH_AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/")
RAW_N = int(os.environ.get("BENCH_RAW_EVENTS", "5000"))
PIPE_N = int(os.environ.get("BENCH_PIPELINE_EVENTS", "5000"))
STEADY_RATE, STEADY_SECONDS = 200, int(os.environ.get("BENCH_STEADY_SECONDS", "10"))
RUN = f"bench{uuid.uuid4().hex[:6]}"


class Base(DeclarativeBase):
    metadata = MetaData()


add_messaging_tables(Base.metadata)


def sample_event(n: int) -> Any:
    data = CaseOpened(
        case_id=f"case-{n}", referral_id=f"ref-{n}", program="felony-diversion", opened_at=datetime.now(UTC)
    )
    return new_event(data, subject=f"case-{n}", tenantid="stl-cao")


def admin(sql: str) -> None:
    connection = psycopg2.connect(PG_ADMIN)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(sql)
    connection.close()


# ------------------------------------------------------------------ 1. raw broker


def raw_broker() -> dict[str, float]:
    body = sample_event(0).to_bytes()
    queue_name = f"diversion.{RUN}.raw"
    figures = {}
    with Connection(AMQP, transport_options={"confirm_publish": True}) as connection:
        channel = connection.channel()
        queue = Queue(queue_name, durable=True, queue_arguments={"x-queue-type": "quorum"})
        queue(channel).declare()
        producer = connection.Producer(channel)
        n = RAW_N // 5
        started = time.perf_counter()
        for _ in range(n):
            producer.publish(
                body, routing_key=queue_name, content_type="application/json", content_encoding="utf-8", delivery_mode=2
            )
        figures["publish, one confirm per message"] = n / (time.perf_counter() - started)
        channel.queue_purge(queue_name)

    with Connection(AMQP) as connection:
        connection.connect()
        channel = connection.channel()
        channel.confirm_select()
        acked = [0]
        channel.events["basic_ack"].add(lambda tag, multiple: acked.__setitem__(0, tag))
        started = time.perf_counter()
        for tag in range(1, RAW_N + 1):
            channel._basic_publish(
                Message(body, delivery_mode=2, content_type="application/json"), exchange="", routing_key=queue_name
            )
            if tag % 500 == 0 or tag == RAW_N:
                while acked[0] < tag:
                    connection.drain_events(timeout=10)
        figures["publish, streamed with batched confirms"] = RAW_N / (time.perf_counter() - started)

        got = [0]

        def on_message(message: Any) -> None:
            got[0] += 1
            message.channel.basic_ack(message.delivery_tag)

        channel.basic_qos(0, 100, False)
        channel.basic_consume(queue_name, callback=on_message)
        started = time.perf_counter()
        while got[0] < RAW_N:
            connection.drain_events(timeout=10)
        figures["consume with acks (prefetch 100)"] = RAW_N / (time.perf_counter() - started)
        channel.queue_delete(queue_name)
    return figures


# ------------------------------------------------------------------ 2./3. pipeline


def services(publisher: str, consumer: str) -> tuple[type, type]:
    class Publisher:
        name = publisher
        db = Database()
        outbox = Outbox()

        @rpc
        def open_cases(self, start: int, count: int) -> None:
            for n in range(start, start + count):
                self.outbox.record(self.db, sample_event(n))
            self.db.commit()

    class Consumer:
        name = consumer
        db = Database()

        @reliable_handler(CaseOpened, source=publisher)
        def on_case_opened(self, event: Any) -> None:
            pass  # the effect is the inbox row the entrypoint commits

    return Publisher, Consumer


def config(url: str) -> dict[str, Any]:
    settings = load_settings(
        "casework",
        env={
            "DIVERSION_AMQP_URI": AMQP,
            "DIVERSION_CASEWORK_DATABASE_URL": url,
            "DIVERSION_CASEWORK_DB_POOL_SIZE": "12",
        },
    )
    return settings.nameko_config()


def handled(engine: Any) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(TABLES.inbox)).scalar_one())


def wait_for_consumer(queue: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with Connection(AMQP) as connection:
                _name, _count, consumers = connection.channel().queue_declare(queue, passive=True)
                if consumers:
                    return
        except Exception:  # noqa: BLE001 - not declared yet
            pass
        eventlet.sleep(0.2)
    raise RuntimeError(f"consumer on {queue} did not start")


def pipeline() -> tuple[float, list[float], dict[str, Any]]:
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg2://")
    pub_db, con_db = f"diversion_bench_{RUN}_pub", f"diversion_bench_{RUN}_con"
    for name in (pub_db, con_db):
        admin(f'CREATE DATABASE "{name}"')
        engine = create_engine(f"{base}/{name}")
        Base.metadata.create_all(engine)
        engine.dispose()
    publisher_cls, consumer_cls = services(f"{RUN}pub", f"{RUN}con")
    # The consumer is its own OS process, as in production: one eventlet hub per service.
    consumer = subprocess.Popen([sys.executable, __file__, "--consumer", f"{RUN}con", f"{RUN}pub", f"{base}/{con_db}"])
    publisher = ServiceContainer(publisher_cls, config(f"{base}/{pub_db}"))
    con_engine = create_engine(f"{base}/{con_db}")
    pub_engine = create_engine(f"{base}/{pub_db}")
    info: dict[str, Any] = {}
    try:
        publisher.start()
        wait_for_consumer(f"diversion.{RUN}con.on_case_opened--{RUN}pub.case.opened")
        with entrypoint_hook(publisher, "open_cases") as open_cases:
            open_cases(-10, 10)  # warm up connections
            while handled(con_engine) < 10:
                eventlet.sleep(0.05)
            # throughput: commits of 50 events each, as fast as the database takes them
            groups = {"publisher": [os.getpid()], "consumer": [consumer.pid],
                      "postgres": postgres_pids(pub_db) + postgres_pids(con_db)}
            cpu_before = {name: cpu_seconds(pids) for name, pids in groups.items()}
            started = time.perf_counter()
            for start in range(0, PIPE_N, 50):
                open_cases(start, 50)
            info["commit_seconds"] = time.perf_counter() - started
            while handled(con_engine) < PIPE_N + 10:
                eventlet.sleep(0.02)
            rate = PIPE_N / (time.perf_counter() - started)
            info["cpu"] = {name: cpu_seconds(pids) - cpu_before[name] for name, pids in groups.items()}

            # latency: one event per transaction at a steady 200/s
            latencies: list[float] = []
            committed: dict[str, float] = {}
            first = PIPE_N + 10
            interval = 1 / STEADY_RATE
            next_at = time.perf_counter()
            total = STEADY_RATE * STEADY_SECONDS
            offset = time.time() - time.perf_counter()
            for i in range(total):
                now = time.perf_counter()
                if now < next_at:
                    eventlet.sleep(next_at - now)
                open_cases(first + i, 1)
                committed[f"case-{first + i}"] = time.perf_counter() + offset
                next_at += interval
            while handled(con_engine) < first + total:
                eventlet.sleep(0.02)
            with con_engine.connect() as connection, pub_engine.connect() as pub:
                ids = dict(pub.execute(select(TABLES.outbox.c.event_id, TABLES.outbox.c.subject)).all())
                for event_id, handled_at in connection.execute(
                    select(TABLES.inbox.c.event_id, TABLES.inbox.c.handled_at)
                ):
                    subject = ids.get(event_id)
                    if subject in committed:
                        latencies.append(handled_at.timestamp() - committed[subject])
            info["steady_events"] = total
    finally:
        publisher.stop()
        consumer.terminate()
        consumer.wait(30)
        con_engine.dispose()
        pub_engine.dispose()
        for name in (pub_db, con_db):
            admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        with Connection(AMQP) as connection:
            channel = connection.channel()
            for queue in (
                f"diversion.{RUN}con.on_case_opened--{RUN}pub.case.opened",
                f"diversion.{RUN}con.dlq",
                f"diversion.{RUN}pub.dlq",
                f"diversion.{RUN}pub.unrouted",
                f"diversion.{RUN}pub.rpc",
                f"diversion.{RUN}con.rpc",
            ):
                channel.queue_delete(queue)
            for exchange in (
                f"diversion.{RUN}pub.events",
                f"diversion.{RUN}pub.unrouted",
                f"diversion.{RUN}pub.dlx",
                f"diversion.{RUN}con.dlx",
                f"diversion.{RUN}con.events",
                f"diversion.{RUN}con.unrouted",
            ):
                channel.exchange_delete(exchange)
    return rate, latencies, info


def commit_cost(n: int = 5000, per_tx: int = 50) -> dict[str, float]:
    """ms per event to commit `n` events `per_tx` per transaction on PostgreSQL, no relay running: with
    `record()` (one multi-row INSERT per transaction) and, as the baseline, one INSERT per event."""
    import json

    from sqlalchemy import insert
    from sqlalchemy.orm import Session

    from shared.messaging.outbox import record
    from shared.messaging.topology import events_exchange_name

    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg2://")
    name = f"diversion_bench_{RUN}_commit"
    admin(f'CREATE DATABASE "{name}"')
    engine = create_engine(f"{base}/{name}")
    Base.metadata.create_all(engine)

    def one_insert_per_event(session: Any, event: Any) -> None:  # what record() did before
        session.execute(insert(TABLES.outbox).values(
            event_id=event.id, event_type=event.type, subject=event.subject,
            exchange=events_exchange_name(event.source), routing_key=event.type, body=event.to_bytes().decode(),
            headers=json.dumps({"nameko.agency": event.tenantid}), created_at=datetime.now(UTC), attempts=0,
        ))

    figures = {}
    try:
        with Session(engine) as session:
            for label, write in (("multi-row", record), ("one INSERT per event", one_insert_per_event)):
                for warm in range(per_tx):
                    write(session, sample_event(-1 - warm))
                session.commit()
                session.execute(TABLES.outbox.delete())
                session.commit()
                events = [sample_event(i) for i in range(n)]
                started = time.perf_counter()
                for start in range(0, n, per_tx):
                    for event in events[start:start + per_tx]:
                        write(session, event)
                    session.commit()
                figures[label] = (time.perf_counter() - started) * 1000 / n
                session.execute(TABLES.outbox.delete())
                session.commit()
    finally:
        engine.dispose()
        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return figures


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main() -> None:
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    size = len(sample_event(0).to_bytes())
    print(f"event size: {size} bytes; machine: {os.cpu_count()} cores")
    raw = raw_broker()
    for label, value in raw.items():
        print(f"raw broker   {label:<42} {value:8.0f} events/s")
    limit = min(raw["publish, streamed with batched confirms"], raw["consume with acks (prefetch 100)"])
    print(f"limit (min of streamed publish and consume):               {limit:8.0f} events/s")
    cost = commit_cost()
    print(
        f"commit cost  {PIPE_N} events, 50/tx, PostgreSQL, no relay: record() (one multi-row INSERT per tx) "
        f"{cost['multi-row']:.3f} ms/event; one INSERT per event (the baseline) {cost['one INSERT per event']:.3f} "
        f"ms/event; {cost['one INSERT per event'] / cost['multi-row']:.1f}x cheaper (target <= 0.1 ms); "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    rate, latencies, info = pipeline()
    print(
        f"pipeline     commit(PG, 50/tx) -> relay -> handler -> inbox   {rate:8.0f} events/s "
        f"({rate / limit:.0%} of the limit; target 4000 and 20% of the limit: "
        f"{'met' if rate >= 4000 and rate >= 0.2 * limit else 'NOT met'})"
    )
    producer = 1000 / cost["multi-row"]
    print(
        f"             committing {PIPE_N} events beside the relay took {info['commit_seconds']:.2f}s "
        f"({PIPE_N / info['commit_seconds']:.0f} events/s); the producer alone commits {producer:.0f} events/s, "
        f"{producer / rate:.1f}x the pipeline: {'not ' if producer > 1.5 * rate else ''}the bound"
    )
    for name, seconds in info["cpu"].items():
        print(f"             CPU {name:<10} {seconds * 1000 / PIPE_N:6.3f} ms per event")
    p50, p99 = percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000
    print(
        f"latency at {STEADY_RATE}/s for {STEADY_SECONDS}s (1 event/tx, n={len(latencies)}): "
        f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {max(latencies) * 1000:.1f} ms (target p99 < 100 ms)"
    )
    print(f"             mean {statistics.mean(latencies) * 1000:.1f} ms")


def run_consumer(name: str, source: str, url: str) -> None:
    from nameko.runners import ServiceRunner

    runner = ServiceRunner(config(url))
    runner.add_service(services(source, name)[1])
    runner.start()
    import signal

    signal.signal(signal.SIGTERM, lambda *_: eventlet.spawn(runner.stop))
    runner.wait()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--consumer"]:
        run_consumer(*sys.argv[2:5])
    else:
        main()
