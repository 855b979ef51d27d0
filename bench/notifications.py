"""Notifications benchmark (`make bench-notifications`): webhook deliveries per second through the whole path.

Path measured: an event published on the broker -> reliable handler (inbox + delivery rows in one
transaction) -> delivery worker claims -> Standard Webhooks signed POST to a local receiver -> attempt
logged as delivered. Beside it, in the same run and to the same receiver, raw signed POSTs (requests,
threads) give the ceiling of this machine. The receiver runs in its own process; so does the service
(`python -m shared.main serve notifications`). Needs PostgreSQL and RabbitMQ; cleans up after itself.
Target: 500 deliveries/s or more.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg2  # noqa: E402
import requests  # noqa: E402
from kombu import Connection, Producer  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from services.notifications.channels.signing import generate_secret, webhook_headers  # noqa: E402
from shared import migrations  # noqa: E402
from shared.auth import issue_token  # noqa: E402
from shared.config import CommonSettings  # noqa: E402
from shared.messaging.catalog import PartnerContact, PartnerReferralPayload, ServiceReferralRequested  # noqa: E402
from shared.messaging.envelope import new_event  # noqa: E402
from shared.messaging.outbox import CLOUDEVENTS_CONTENT_TYPE  # noqa: E402
from shared.messaging.topology import declare_publisher_topology, events_exchange  # noqa: E402

PG_ADMIN = os.environ.get("DIVERSION_BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
AMQP = os.environ.get("DIVERSION_BENCH_AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/")
EVENTS = int(os.environ.get("BENCH_NOTIFICATIONS_EVENTS", "5000"))
ORGS = int(os.environ.get("BENCH_NOTIFICATIONS_ORGS", "20"))
CONCURRENCY = int(os.environ.get("BENCH_NOTIFICATIONS_CONCURRENCY", "64"))
INSTANCES = int(os.environ.get("BENCH_NOTIFICATIONS_INSTANCES", "1"))
JWT_SECRET = "bench-secret-not-for-production-0123456789"
AGENCY = f"bench-{uuid.uuid4().hex[:6]}"

RECEIVER = r'''
import sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
count = 0
lock = threading.Lock()
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        global count
        self.rfile.read(int(self.headers.get("content-length", 0)))
        with lock:
            count += 1
        self.send_response(200); self.send_header("content-length", "2"); self.end_headers(); self.wfile.write(b"ok")
    def do_GET(self):
        body = str(count).encode()
        self.send_response(200); self.send_header("content-length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args): pass
class Server(ThreadingHTTPServer):
    request_queue_size = 1024
    daemon_threads = True
server = Server(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
'''


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def admin(sql: str) -> None:
    connection = psycopg2.connect(PG_ADMIN)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
    finally:
        connection.close()


def wait_until(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"bench: timed out waiting for {what}")
        time.sleep(0.05)


def received(receiver_url: str) -> int:
    return int(requests.get(receiver_url + "/count", timeout=5).text)


def raw_signed_posts(url: str, n: int, concurrency: int) -> float:
    """n Standard Webhooks signed POSTs from `concurrency` threads, each with a keep-alive session."""
    secret = generate_secret()
    body = json.dumps({"type": "org.diversion.resources.service_referral.requested", "data": {"n": 0}})
    local = threading.local()

    def post(i: int) -> None:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        headers = webhook_headers([secret], f"msg_{i}", int(time.time()), body)
        headers["content-type"] = "application/json"
        response = session.post(url, data=body, headers=headers, timeout=10, allow_redirects=False)
        response.close()

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(post, range(n)))
    return n / (time.perf_counter() - started)


def event(n: int) -> bytes:
    data = ServiceReferralRequested(
        service_referral_id=f"sr-{n}", organization_id=f"org-{n % ORGS}", service_id="svc-1", consent_id="c-1",
        partner=PartnerReferralPayload(participant_name="Ana Diaz", contact=PartnerContact(phone="+13145550100"),
                                       need="transitional housing"),
        requested_at=datetime.now(UTC),
    )
    return new_event(data, subject=f"sr-{n}", tenantid=AGENCY).to_bytes()


def publish(bodies: list[bytes]) -> None:
    with Connection(AMQP) as connection:
        declare_publisher_topology(connection, "resources")
        producer = Producer(connection.default_channel, exchange=events_exchange("resources"))
        for body in bodies:
            producer.publish(body, routing_key="org.diversion.resources.service_referral.requested",
                             content_type=CLOUDEVENTS_CONTENT_TYPE, content_encoding="utf-8", delivery_mode=2)


def main() -> None:
    database = f"diversion_test_nt_bench_{uuid.uuid4().hex[:8]}"
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg2://")
    url = f"{base}/{database}"
    admin(f'CREATE DATABASE "{database}"')
    processes: list[subprocess.Popen[bytes]] = []
    data_dir = tempfile.mkdtemp(prefix="bench-notifications-")
    try:
        migrations.upgrade("notifications", url)
        receiver = subprocess.Popen([sys.executable, "-c", RECEIVER], stdout=subprocess.PIPE)
        processes.append(receiver)
        assert receiver.stdout is not None
        receiver_url = f"http://127.0.0.1:{int(receiver.stdout.readline())}"

        ports = []
        for _ in range(INSTANCES):
            port = free_port()
            ports.append(port)
            env = {**os.environ, "DIVERSION_AMQP_URI": AMQP, "DIVERSION_DATA_DIR": data_dir,
                   "DIVERSION_JWT_SECRET": JWT_SECRET, "DIVERSION_LOG_LEVEL": "WARNING",
                   "DIVERSION_NOTIFICATIONS_DATABASE_URL": url, "DIVERSION_NOTIFICATIONS_HTTP_PORT": str(port),
                   "DIVERSION_NOTIFICATIONS_DB_POOL_SIZE": "10",
                   "DIVERSION_NOTIFICATIONS_WEBHOOK_ALLOW_LIST": "127.0.0.1",
                   "DIVERSION_NOTIFICATIONS_DISPATCH_CONCURRENCY": str(CONCURRENCY)}
            processes.append(subprocess.Popen([sys.executable, "-m", "shared.main", "serve", "notifications"],
                                              env=env, cwd=ROOT, stdout=subprocess.DEVNULL))
        for port in ports:
            wait_until(lambda p=port: _ready(p), 60, "the notifications service to be ready")
        api = f"http://127.0.0.1:{ports[0]}"

        token = issue_token(CommonSettings(jwt_secret=JWT_SECRET), agency=AGENCY, roles=("admin",), org=None)
        for org in range(ORGS):
            response = requests.post(f"{api}/v1/subscriptions", headers={"Authorization": f"Bearer {token}"},
                                     json={"url": f"{receiver_url}/hooks/{org}", "organization_id": f"org-{org}"},
                                     timeout=10)
            response.raise_for_status()

        engine = create_engine(url)

        def delivered() -> int:
            with engine.connect() as connection:
                return int(connection.execute(text(
                    "SELECT count(*) FROM delivery_attempt a JOIN delivery d ON d.id = a.delivery_id "
                    "WHERE a.outcome = 'delivered' AND d.purpose = 'partner_event'")).scalar_one())

        warm = 200
        publish([event(-1 - i) for i in range(warm)])
        wait_until(lambda: delivered() >= warm, 60, "the warm-up deliveries")

        raw_rate = raw_signed_posts(receiver_url + "/raw", EVENTS, CONCURRENCY)

        bodies = [event(i) for i in range(EVENTS)]
        before = received(receiver_url)
        started = time.perf_counter()
        threading.Thread(target=publish, args=(bodies,), daemon=True).start()
        wait_until(lambda: delivered() >= warm + EVENTS, 600, "the measured deliveries")
        elapsed = time.perf_counter() - started
        got = received(receiver_url) - before
        with engine.connect() as connection:
            duplicates = connection.execute(text(
                "SELECT count(*) - count(DISTINCT delivery_id) FROM delivery_attempt WHERE outcome='delivered'"
            )).scalar_one()
            first, last = connection.execute(text(
                "SELECT min(created_at), max(created_at) FROM delivery WHERE trigger_event_type LIKE '%requested' "
                "AND recipient NOT LIKE '%/raw'")).one()
        consumed = EVENTS / max((last - first).total_seconds(), 1e-3)
        engine.dispose()

        rate = EVENTS / elapsed
        print(f"notifications bench ({INSTANCES} instance(s), {CONCURRENCY} sends in flight each, {ORGS} partners, "
              f"{EVENTS} events, one webhook subscription per partner)")
        print(f"  raw signed POSTs (requests, {CONCURRENCY} threads) : {raw_rate:8.0f} POST/s")
        print(f"  event -> delivery -> signed POST -> logged      : {rate:8.0f} deliveries/s "
              f"({elapsed:.2f} s; receiver counted {got}; duplicate deliveries {duplicates})")
        print(f"  of which event consumption (inbox + delivery rows): {consumed:8.0f} events/s")
        print(f"  target 500 deliveries/s: {'met' if rate >= 500 else 'NOT met'}")
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
        admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def _ready(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


if __name__ == "__main__":
    main()
