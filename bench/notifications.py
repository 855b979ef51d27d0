"""Notifications benchmark (`make bench-notifications`): webhook deliveries per second through the whole path.

Path measured: an event published on the broker -> reliable handler (inbox + delivery rows in one
transaction) -> delivery worker claims -> Standard Webhooks signed POST to a local receiver -> attempt
logged as delivered. Target: 500 deliveries/s or more.

Beside it, in the same run and to the same receiver (bench/webhook_receiver.py: asyncio, HTTP/1.1
keep-alive, its own process), raw signed POSTs give the ceiling of this machine: once from an asyncio
client with keep-alive connections (the receiver's limit), once from `requests` in threads with
keep-alive sessions (what the HTTP library the service uses costs by itself). The whole path is
reported as a ratio of the first.

Isolation: the service's queue names are fixed (`diversion.notifications.<handler>--...`), so any other
notifications instance on the shared broker (a developer's `diversion run`, an e2e test) would compete
for the bench's events. The bench therefore starts a RabbitMQ node of its own on free ports (own data
dir, own Erlang cookie; the shared node is never touched) unless DIVERSION_BENCH_AMQP_URI names one.

Then the send-time consent check (ADR 0070): one instance with it against the same path without it
(`bench_without_consent_check`, the baseline only), two alternating rounds, as a ratio (target 0.8x).

It also reports the CPU each process used during the measured window (from /proc), per delivery: what
bounds the rate on a small machine. Needs PostgreSQL; cleans up after itself.

    BENCH_NOTIFICATIONS_EVENTS=5000 BENCH_NOTIFICATIONS_INSTANCES=1,2 python bench/notifications.py
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
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
from amqp import Message as amqp_message  # noqa: E402
from kombu import Connection  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from services.notifications.channels.signing import generate_secret, webhook_headers  # noqa: E402
from shared import migrations  # noqa: E402
from shared.auth import issue_token  # noqa: E402
from shared.config import CommonSettings  # noqa: E402
from shared.messaging.catalog import (  # noqa: E402
    ConsentRecorded,
    PartnerContact,
    PartnerReferralPayload,
    ServiceReferralRequested,
)
from shared.messaging.envelope import CloudEvent, new_event  # noqa: E402
from shared.messaging.outbox import CLOUDEVENTS_CONTENT_TYPE  # noqa: E402
from shared.messaging.signing import sign_event  # noqa: E402
from shared.messaging.topology import declare_publisher_topology, events_exchange  # noqa: E402

PG_ADMIN = os.environ.get("DIVERSION_BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
SHARED_AMQP = os.environ.get("DIVERSION_BENCH_AMQP_URI")  # unset: a broker of the bench's own
EVENTS = int(os.environ.get("BENCH_NOTIFICATIONS_EVENTS", "5000"))
ORGS = int(os.environ.get("BENCH_NOTIFICATIONS_ORGS", "20"))
CONCURRENCY = int(os.environ.get("BENCH_NOTIFICATIONS_CONCURRENCY", "64"))
INSTANCES = [int(n) for n in os.environ.get("BENCH_NOTIFICATIONS_INSTANCES", "1,2").split(",")]
RAW_CONNECTIONS = 64
JWT_SECRET = "bench-secret-not-for-production-0123456789"
SIGNING_KEY = "bench-message-signing-key-not-for-production-0123"
RECEIVER = ROOT / "bench" / "webhook_receiver.py"
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def admin(sql: str) -> Any:
    connection = psycopg2.connect(PG_ADMIN)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchall() if cursor.description else None
    finally:
        connection.close()


def wait_until(condition: Any, timeout: float, what: str, every: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"bench: timed out waiting for {what}")
        time.sleep(every)


def wait_for_progress(count: Any, goal: int, what: str, stall: float = 60) -> None:
    """Wait until count() reaches goal; give up (and say how many are missing) after `stall` s without progress."""
    last, since = -1, time.monotonic()
    while True:
        now = count()
        if now >= goal:
            return
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since > stall:
            raise SystemExit(f"bench: {what}: {goal - now} of {goal} missing, no progress for {stall:.0f} s")
        time.sleep(0.1)


# ------------------------------------------------------------------ an own broker


class OwnBroker:
    """A RabbitMQ node on free ports with its own data dir and cookie; stopped and deleted at the end."""

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="bench-rabbit-"))
        self.port, dist_port = free_port(), free_port()
        self.node = f"bench{uuid.uuid4().hex[:6]}@localhost"
        (self.base / "plugins").write_text("")
        self.env = {
            **os.environ, "HOME": str(self.base), "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_PORT": str(self.port), "RABBITMQ_DIST_PORT": str(dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.base / "mnesia"), "RABBITMQ_LOG_BASE": str(self.base / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.base / "plugins"),
            "RABBITMQ_CONFIG_FILE": str(self.base / "rabbitmq"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.base / "advanced.config"),
            "RABBITMQ_PID_FILE": str(self.base / "pid"),
        }
        self.uri = f"amqp://guest:guest@127.0.0.1:{self.port}/"
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with (self.base / "server.log").open("ab") as out:
            self.popen = subprocess.Popen(["/usr/lib/rabbitmq/bin/rabbitmq-server"], env=self.env, stdout=out,
                                          stderr=out, start_new_session=True)
        wait_until(self._accepts, 90, "the bench's own RabbitMQ node", every=0.3)

    def _accepts(self) -> bool:
        try:
            with Connection(self.uri, connect_timeout=1) as connection:
                connection.connect()
            return True
        except Exception:  # noqa: BLE001 - not up yet
            return False

    def pids(self) -> list[int]:
        return _group_pids(self.popen.pid) if self.popen else []

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            subprocess.run(["/usr/lib/rabbitmq/bin/rabbitmqctl", "-n", self.node, "stop"], env=self.env,
                           capture_output=True, timeout=60)
            try:
                self.popen.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)  # the group started in start(): only ours
        shutil.rmtree(self.base, ignore_errors=True)


def _group_pids(pgid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getpgid(int(entry.name)) == pgid:
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


# ------------------------------------------------------------------ CPU accounting


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / TICKS


def postgres_pids(database: str) -> list[int]:
    rows = admin(f"SELECT pid FROM pg_stat_activity WHERE datname = '{database}'")
    return [row[0] for row in rows or []]


# ------------------------------------------------------------------ raw baselines


def raw_asyncio(url: str, n: int) -> float:
    out = subprocess.run([sys.executable, str(RECEIVER), "post", url, str(n), str(RAW_CONNECTIONS)],
                         capture_output=True, text=True, check=True, timeout=300)
    return float(out.stdout.strip())


def raw_requests(url: str, n: int, concurrency: int) -> float:
    """n signed POSTs with `requests` from `concurrency` threads, each with a keep-alive session."""
    secret = generate_secret()
    body = json.dumps({"type": "org.diversion.resources.service_referral.requested", "data": {"n": 0}})
    local = threading.local()

    def post(i: int) -> None:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        headers = webhook_headers([secret], f"msg_{i}", int(time.time()), body)
        headers["content-type"] = "application/json"
        session.post(url, data=body, headers=headers, timeout=10, allow_redirects=False).content  # noqa: B018

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(post, range(n)))
    return n / (time.perf_counter() - started)


# ------------------------------------------------------------------ the whole path


def event(n: int, agency: str) -> CloudEvent[Any]:
    data = ServiceReferralRequested(
        service_referral_id=f"sr-{n}", organization_id=f"org-{n % ORGS}", service_id="svc-1",
        consent_id=f"c-{n % ORGS}",
        partner=PartnerReferralPayload(participant_name="Ana Diaz", contact=PartnerContact(phone="+13145550100"),
                                       need="transitional housing"),
        requested_at=datetime.now(UTC),
    )
    return new_event(data, subject=f"sr-{n}", tenantid=agency)


def consent_events(agency: str) -> list[CloudEvent[Any]]:
    """casework's consent.recorded for each partner: what the send-time check of every delivery asks."""
    now = datetime.now(UTC)
    return [new_event(ConsentRecorded(
        consent_id=f"c-{org}", participant_id=f"p-{org}", person_id=f"p-{org}", recipient_org_id=f"org-{org}",
        categories=["contact_info", "needs_assessment"], purposes=["service_referral"], valid=True, recorded_at=now,
    ), subject=f"p-{org}", tenantid=agency) for org in range(ORGS)]


def publish(amqp: str, events: list[CloudEvent[Any]], service: str = "resources",
            routing_key: str = "org.diversion.resources.service_referral.requested") -> None:
    """Publish with publisher confirms, streamed (one wait per 200 messages), as the outbox relay does.

    Without confirms, the last messages can be lost when the connection closes while a loaded broker
    has not read them yet; the bench would then wait for deliveries that can never happen.
    """
    with Connection(amqp) as connection:
        declare_publisher_topology(connection, service)
        channel = connection.channel()
        channel.confirm_select()
        confirmed = [0]
        channel.events["basic_ack"].add(lambda tag, multiple: confirmed.__setitem__(0, max(confirmed[0], tag)))
        exchange = events_exchange(service).name
        for tag, ev in enumerate(events, start=1):
            body = ev.to_bytes()  # signed as the outbox relay signs it (ADR 0011)
            headers = sign_event({"nameko.agency": ev.tenantid}, signer=service, message_id=ev.id, body=body,
                                 key=SIGNING_KEY.encode())
            channel._basic_publish(
                amqp_message(body, delivery_mode=2, content_type=CLOUDEVENTS_CONTENT_TYPE, content_encoding="utf-8",
                             message_id=ev.id, application_headers=headers),
                exchange=exchange, routing_key=routing_key,
            )
            if tag % 200 == 0 or tag == len(events):
                while confirmed[0] < tag:
                    connection.drain_events(timeout=30)


def _ready(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def received(receiver_url: str) -> int:
    return int(requests.get(receiver_url + "/count", timeout=5).text)


def whole_path(instances: int, amqp: str, receiver_url: str, other_pids: dict[str, list[int]],
               consent_check: bool = True) -> dict[str, Any]:
    """Fresh database, `instances` service processes, 20 partner subscriptions, each partner's consent
    recorded; with the send-time consent check (the product) or without it (the baseline); the figures."""
    agency = f"bench-{uuid.uuid4().hex[:6]}"
    database = f"diversion_test_nt_bench_{uuid.uuid4().hex[:8]}"
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg2://")
    url = f"{base}/{database}"
    admin(f'CREATE DATABASE "{database}"')
    services: list[subprocess.Popen[bytes]] = []
    data_dir = tempfile.mkdtemp(prefix="bench-notifications-")
    engine = create_engine(url)
    try:
        migrations.upgrade("notifications", url)
        ports = []
        for _ in range(instances):
            port = free_port()
            ports.append(port)
            env = {**os.environ, "DIVERSION_AMQP_URI": amqp, "DIVERSION_DATA_DIR": data_dir,
                   "DIVERSION_JWT_SECRET": JWT_SECRET, "DIVERSION_LOG_LEVEL": "WARNING",
                   "DIVERSION_MESSAGE_SIGNING_KEY": SIGNING_KEY,
                   "DIVERSION_NOTIFICATIONS_DATABASE_URL": url, "DIVERSION_NOTIFICATIONS_HTTP_PORT": str(port),
                   "DIVERSION_NOTIFICATIONS_DB_POOL_SIZE": "10",
                   "DIVERSION_NOTIFICATIONS_WEBHOOK_ALLOW_LIST": "127.0.0.1",
                   "DIVERSION_NOTIFICATIONS_DISPATCH_CONCURRENCY": str(CONCURRENCY),
                   "DIVERSION_NOTIFICATIONS_BENCH_WITHOUT_CONSENT_CHECK": "false" if consent_check else "true"}
            services.append(subprocess.Popen([sys.executable, "-m", "shared.main", "serve", "notifications"],
                                             env=env, cwd=ROOT, stdout=subprocess.DEVNULL))
        for port in ports:
            wait_until(lambda p=port: _ready(p), 60, "the notifications service to be ready")
        api = f"http://127.0.0.1:{ports[0]}"
        token = issue_token(CommonSettings(jwt_secret=JWT_SECRET), agency=agency, roles=("admin",), org=None)
        for org in range(ORGS):
            response = requests.post(f"{api}/v1/subscriptions", headers={"Authorization": f"Bearer {token}"},
                                     json={"url": f"{receiver_url}/hooks/{org}", "organization_id": f"org-{org}"},
                                     timeout=10)
            response.raise_for_status()

        publish(amqp, consent_events(agency), "casework", "org.diversion.casework.consent.recorded")

        def copied() -> bool:
            with engine.connect() as connection:
                return int(connection.execute(text("SELECT count(*) FROM partner_consent")).scalar_one()) >= ORGS

        wait_until(copied, 60, "notifications' copy of the partners' consents")

        def delivered() -> int:
            with engine.connect() as connection:
                return int(connection.execute(text(
                    "SELECT count(*) FROM delivery_attempt WHERE outcome = 'delivered'")).scalar_one())

        warm = 200
        publish(amqp, [event(-1 - i, agency) for i in range(warm)])
        wait_until(lambda: delivered() >= warm, 60, "the warm-up deliveries")

        bodies = [event(i, agency) for i in range(EVENTS)]
        before = received(receiver_url)
        groups = {"notifications service": [p.pid for p in services], **other_pids,
                  "postgresql (bench db backends)": postgres_pids(database)}
        cpu_before = {name: cpu_seconds(pids) for name, pids in groups.items()}
        started = time.perf_counter()
        threading.Thread(target=publish, args=(amqp, bodies), daemon=True).start()
        wait_for_progress(delivered, warm + EVENTS, "the measured deliveries")
        elapsed = time.perf_counter() - started
        cpu = {name: cpu_seconds(pids) - cpu_before[name] for name, pids in groups.items()}
        got = received(receiver_url) - before
        with engine.connect() as connection:
            duplicates = connection.execute(text(
                "SELECT count(*) - count(DISTINCT delivery_id) FROM delivery_attempt WHERE outcome='delivered'"
            )).scalar_one()
            first, last = connection.execute(text(
                "SELECT min(created_at), max(created_at) FROM delivery WHERE subject IS NULL "
                "AND trigger_event_type LIKE '%requested' AND created_at >= "
                "(SELECT max(created_at) FROM delivery) - interval '10 minutes'")).one()
            measured_first = connection.execute(text(
                "SELECT created_at FROM delivery ORDER BY created_at OFFSET :warm LIMIT 1"), {"warm": warm}).scalar()
        consumed = EVENTS / max((last - (measured_first or first)).total_seconds(), 1e-3)
        withheld = connection_count(engine, "SELECT count(*) FROM delivery WHERE status = 'withheld'")
        return {"instances": instances, "rate": EVENTS / elapsed, "withheld": withheld, "elapsed": elapsed,
                "received": got, "duplicates": duplicates, "consumed": consumed, "cpu": cpu}
    finally:
        engine.dispose()
        for process in services:
            process.terminate()
        for process in services:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(data_dir, ignore_errors=True)
        admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def connection_count(engine: Any, sql: str) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text(sql)).scalar_one())


def main() -> None:
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    broker = None if SHARED_AMQP else OwnBroker()
    receiver: subprocess.Popen[bytes] | None = None
    try:
        if broker is not None:
            broker.start()
        amqp = SHARED_AMQP or broker.uri  # type: ignore[union-attr]
        receiver = subprocess.Popen([sys.executable, str(RECEIVER), "serve"], stdout=subprocess.PIPE)
        assert receiver.stdout is not None
        receiver_url = f"http://127.0.0.1:{int(receiver.stdout.readline())}"
        load = os.getloadavg()
        print(f"notifications bench: {os.cpu_count()} cores, load average before {load[0]:.2f}; "
              f"{ORGS} partners (one webhook subscription each), {EVENTS} events per run, "
              f"{CONCURRENCY} sends in flight per instance; broker: {'own node' if broker else amqp}")

        raw_fast = raw_asyncio(receiver_url + "/raw", max(EVENTS * 4, 20000))
        raw_lib = raw_requests(receiver_url + "/raw", EVENTS, CONCURRENCY)
        print(f"  raw signed POSTs, asyncio client, {RAW_CONNECTIONS} keep-alive connections : {raw_fast:8.0f} POST/s")
        print(f"  raw signed POSTs, requests, {CONCURRENCY} threads with keep-alive sessions : "
              f"{raw_lib:8.0f} POST/s")
        others = {"receiver": [receiver.pid], "rabbitmq (own node)": broker.pids() if broker else []}
        for instances in INSTANCES:
            figures = whole_path(instances, amqp, receiver_url, others)
            rate = figures["rate"]
            print(f"  {instances} instance(s): event -> delivery -> signed POST -> logged : {rate:8.0f} deliveries/s"
                  f" = {rate / raw_fast:.1%} of the asyncio raw rate, {rate / raw_lib:.0%} of the requests one "
                  f"({figures['elapsed']:.2f} s; receiver counted {figures['received']}; duplicate deliveries "
                  f"{figures['duplicates']}; events consumed at {figures['consumed']:.0f}/s); "
                  f"target 500: {'met' if rate >= 500 else 'NOT met'}")
            window = figures["elapsed"]
            for name, seconds in figures["cpu"].items():
                if seconds > 0:
                    print(f"      CPU {name:<32} {seconds / window:5.0%} of a core, "
                          f"{seconds * 1000 / EVENTS:6.2f} ms per delivery")
            if instances == 1:  # issue 19's targets for one instance
                per_delivery = figures["cpu"]["notifications service"] * 1000 / EVENTS
                print(f"      target <= 0.3 ms of service CPU per delivery: {per_delivery:.2f} ms, "
                      f"{'met' if per_delivery <= 0.3 else 'NOT met'}; target >= 2,500 deliveries/s with one "
                      f"instance: {'met' if rate >= 2500 else 'NOT met'}")
        # ADR 0070: the send-time consent check against the same path without it, one instance, same run.
        # Two alternating rounds, so warm-up and drift weigh on both sides alike.
        rounds = [(whole_path(1, amqp, receiver_url, others, consent_check=False),
                   whole_path(1, amqp, receiver_url, others, consent_check=True)) for _ in range(2)]
        for n, (unchecked, checked) in enumerate(rounds, start=1):
            one = checked["rate"] / unchecked["rate"]
            print(f"  round {n}: 1 instance, without the send-time consent check {unchecked['rate']:8.0f} "
                  f"deliveries/s, with it {checked['rate']:8.0f} deliveries/s: {one:.2f}x"
                  f" (withheld {checked['withheld']}, duplicates {checked['duplicates']})")
        ratio = sum(c["rate"] for _, c in rounds) / sum(u["rate"] for u, _ in rounds)
        print(f"  send-time consent check (ADR 0070): {ratio:.2f}x the same path without it; "
              f"target at least 0.8x: {'met' if ratio >= 0.8 else 'NOT met'}")
        print(f"  load average after: {os.getloadavg()[0]:.2f}")
    finally:
        if receiver is not None:
            receiver.terminate()
            receiver.wait(10)
        if broker is not None:
            broker.stop()


if __name__ == "__main__":
    main()
