"""The fixed stack's own floor (`make bench-floor`): what nameko costs before any of the suite's code runs.

Issue 19 asks for 200 referrals/s through the whole flow on 2 cores, i.e. at most 10 ms of CPU per
referral for everything (four services, PostgreSQL, RabbitMQ, the client). This measures, in one run, the
service CPU (user + system time of the serving process, from /proc) of:

1. one HTTP request to an EMPTY nameko `@http` entrypoint (no auth, no database, no JSON model);
2. one event to an EMPTY nameko `@event_handler` (no inbox, no database);
3. one PostgreSQL transaction of one INSERT (the backend process's CPU, from its /proc entry), the least
   a state change costs the database;

and multiplies them by the hops one referral needs in the suite's flow today: the two HTTP requests of the
screener (submit, accept), the deliveries of `referral.accepted`, `case.opened` and `case.assigned` to every
service that consumes them (read from the services' code), and one transaction per HTTP request and per
delivery. The product is the floor of the flow's CPU with the stack the user fixed; beside it, the budget.

    BENCH_FLOOR_REQUESTS=3000 BENCH_FLOOR_EVENTS=5000 python bench/floor.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

REQUESTS = int(os.environ.get("BENCH_FLOOR_REQUESTS", "3000"))
EVENTS = int(os.environ.get("BENCH_FLOOR_EVENTS", "5000"))
TRANSACTIONS = int(os.environ.get("BENCH_FLOOR_TRANSACTIONS", "5000"))
AMQP = os.environ.get("DIVERSION_BENCH_AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/")
PG_ADMIN = os.environ.get("DIVERSION_BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
TARGET_RATE, CORES = 200.0, 2
FLOW_EVENTS = ("intake.referral.accepted", "casework.case.opened", "casework.case.assigned")
TICKS = os.sysconf("SC_CLK_TCK")

SERVER = r'''
import eventlet; eventlet.monkey_patch()
import sys
from nameko.events import event_handler
from nameko.runners import ServiceRunner
from nameko.web.handlers import http

class Floor:
    name = "floor_" + sys.argv[2]

    @http("GET", "/ping")
    def ping(self, request):
        return "ok"

    @event_handler("floor_source_" + sys.argv[2], "ping")
    def on_ping(self, payload):
        pass

runner = ServiceRunner({"AMQP_URI": sys.argv[1], "WEB_SERVER_ADDRESS": "127.0.0.1:" + sys.argv[3],
                        "max_workers": 10})
runner.add_service(Floor)
runner.start()
print("ready", flush=True)
runner.wait()
'''


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_floor(pid: int, port: int) -> float:
    import requests

    local = __import__("threading").local()

    def one(_: int) -> None:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        assert local.session.get(f"http://127.0.0.1:{port}/ping", timeout=10).status_code == 200

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(200)))  # warm up
        before = cpu_seconds(pid)
        list(pool.map(one, range(REQUESTS)))
    return (cpu_seconds(pid) - before) / REQUESTS


def event_floor(pid: int, run: str) -> float:
    from kombu import Connection, Exchange, Queue

    queue_name = f"evt-floor_source_{run}-ping--floor_{run}.on_ping"
    exchange = Exchange(f"floor_source_{run}.events", type="topic", durable=True)
    with Connection(AMQP) as connection:
        channel = connection.channel()
        deadline = time.monotonic() + 30
        while True:
            try:
                _n, _count, consumers = channel.queue_declare(queue_name, passive=True)
                if consumers:
                    break
            except Exception:  # noqa: BLE001 - not declared yet
                channel = connection.channel()
            if time.monotonic() > deadline:
                raise RuntimeError("the floor consumer did not start")
            time.sleep(0.1)
        producer = connection.Producer(channel, exchange=exchange, serializer="json")
        for n in range(200):
            producer.publish({"n": n}, routing_key="ping")
        depth = Queue(queue_name, channel=channel)

        def drained() -> bool:
            return depth.queue_declare(passive=True).message_count == 0

        while not drained():
            time.sleep(0.05)
        time.sleep(0.5)
        before = cpu_seconds(pid)
        for n in range(EVENTS):
            producer.publish({"n": n}, routing_key="ping")
        while not drained():
            time.sleep(0.02)
        time.sleep(0.5)  # the last deliveries' acks
    return (cpu_seconds(pid) - before) / EVENTS


def transaction_floor() -> float:
    import psycopg2

    connection = psycopg2.connect(PG_ADMIN)
    connection.autocommit = True
    name = f"bench_floor_{uuid.uuid4().hex[:6]}"
    connection.cursor().execute(f'CREATE DATABASE "{name}"')
    try:
        db = psycopg2.connect(PG_ADMIN.rsplit("/", 1)[0] + f"/{name}")
        cursor = db.cursor()
        cursor.execute("CREATE TABLE t (id bigserial PRIMARY KEY, body text NOT NULL)")
        db.commit()
        cursor.execute("SELECT pg_backend_pid()")
        backend = int(cursor.fetchone()[0])
        before = cpu_seconds(backend)
        for n in range(TRANSACTIONS):
            cursor.execute("INSERT INTO t (body) VALUES (%s)", (f"event {n}",))
            db.commit()
        spent = cpu_seconds(backend) - before
        db.close()
    finally:
        connection.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.close()
    return spent / TRANSACTIONS


def deliveries_per_referral() -> dict[str, int]:
    from shared.messaging import asyncapi

    counts = dict.fromkeys(FLOW_EVENTS, 0)
    for handler in asyncapi.handlers_in_code():
        short = handler.spec.type.removeprefix("org.diversion.")
        if short in counts:
            counts[short] += 1
    return counts


def main() -> None:
    run = uuid.uuid4().hex[:6]
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVER, AMQP, run, str(port)], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        http_ms = http_floor(server.pid, port) * 1000
        event_ms = event_floor(server.pid, run) * 1000
    finally:
        server.terminate()
        server.wait(timeout=30)
    tx_ms = transaction_floor() * 1000
    deliveries = deliveries_per_referral()
    n_http, n_events = 2, sum(deliveries.values())
    floor = n_http * http_ms + n_events * event_ms + (n_http + n_events) * tx_ms
    budget = CORES * 1000 / TARGET_RATE
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    print(f"empty nameko @http request        {http_ms:6.3f} ms of service CPU (n={REQUESTS})")
    print(f"empty nameko @event_handler event {event_ms:6.3f} ms of service CPU (n={EVENTS})")
    print(f"one PostgreSQL INSERT + commit    {tx_ms:6.3f} ms of backend CPU (n={TRANSACTIONS})")
    print(f"one referral's hops: {n_http} HTTP requests; deliveries {deliveries} = {n_events}; "
          f"{n_http + n_events} transactions")
    print(f"floor of one referral: {floor:.2f} ms of CPU with nothing of the suite's own code; budget at "
          f"{TARGET_RATE:.0f} referrals/s on {CORES} cores: {budget:.2f} ms ({floor / budget:.2f}x the budget; "
          f"the floor alone allows at most {CORES * 1000 / floor:.0f} referrals/s)")


if __name__ == "__main__":
    main()
