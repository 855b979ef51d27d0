"""The whole suite under load (`make bench-suite`): referrals posted to intake at a fixed rate, each accepted,
its case opened and assigned by casework and the case manager emailed by notifications (a mail catcher).

Measured, from the accept request to the email's arrival at the catcher (one clock: the same machine):
1. raw pipeline, the same run and broker: one broker hop (publish with a confirm -> consume with an ack) and
   one SMTP send to the same catcher, each at the low rate (latency) and flat out (rate); the suite's
   path has two broker hops (referral.accepted, case.assigned) and one SMTP send;
2. the suite at a low fixed rate (target: p99 under 300 ms at 20 referrals/s);
3. the suite at a high fixed rate (target: at least 200 referrals/s sustained through the whole flow);
4. the low rate again with the casework process killed with SIGKILL every 10 s and started again at once:
   0 lost, 0 duplicated, and what the kills cost in latency.
Lost: an accepted referral without exactly one case or without its email; duplicated: a second case for a
referral or a second email for a case. Each referral is a new person, except a share (BENCH_SUITE_REPEAT_SHARE,
5 %) who was referred before: duplicate detection and the person link are exercised as in a real caseload.

Isolation: a RabbitMQ node of its own (bench/notifications.py's, on free ports), PostgreSQL databases of
its own (`diversion_bench_suite_*`, dropped at the end), its own ports and mail catcher (its own process).
The machine may be shared: the load average is printed beside every figure, and the raw pipeline is
measured in the same run so the ratios mean something. Not part of `make test`.

    BENCH_SUITE_LOW_RATE=20 BENCH_SUITE_HIGH_RATE=200 BENCH_SUITE_SECONDS=20 python bench/suite.py
"""

from __future__ import annotations

import os
import queue
import random
import shutil
import signal
import smtplib
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

SERVICES = ("intake", "casework", "resources", "notifications")
LOW_RATE = float(os.environ.get("BENCH_SUITE_LOW_RATE", "20"))
HIGH_RATE = float(os.environ.get("BENCH_SUITE_HIGH_RATE", "200"))
SECONDS = float(os.environ.get("BENCH_SUITE_SECONDS", "20"))
KILL_EVERY = float(os.environ.get("BENCH_SUITE_KILL_EVERY", "10"))
KILL_SECONDS = float(os.environ.get("BENCH_SUITE_KILL_SECONDS", "40"))
STAFF = int(os.environ.get("BENCH_SUITE_STAFF", "40"))  # 500 cases each at most
CLIENT_THREADS = int(os.environ.get("BENCH_SUITE_CLIENT_THREADS", "48"))
LATE_SECONDS = 5.0  # referrals not yet posted this long after the phase's end are not posted at all
JWT_SECRET = "bench-secret-not-for-production-0123456789"
AGENCY = "stl-cao"  # intake's demo rulesets
PROGRAMS = ["young-adult", "limited-history", "aged-history", "first-diversion", "second-chance"]


# ------------------------------------------------------------------ the mail catcher (its own process)


def catch(port: int, log: str) -> None:
    """`python bench/suite.py catch PORT FILE`: an SMTP server writing `<arrival time>\\t<subject>` per message."""
    from aiosmtpd.controller import Controller

    out = open(log, "a", buffering=1)  # noqa: SIM115 - open for the process's life

    class Note:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            arrived = time.time()
            subject = ""
            for line in (envelope.original_content or b"").split(b"\r\n"):
                if line.lower().startswith(b"subject:"):
                    subject = line.split(b":", 1)[1].strip().decode("utf-8", "replace")
                    break
                if not line:
                    break
            out.write(f"{arrived:.6f}\t{subject}\n")
            return "250 Message accepted"

    controller = Controller(Note(), hostname="127.0.0.1", port=port, ready_timeout=30)
    controller.start()
    print("ready", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    controller.stop()


def caught(log: Path) -> list[tuple[float, str]]:
    if not log.exists():
        return []
    rows = []
    for line in log.read_text().splitlines():
        arrived, _, subject = line.partition("\t")
        if subject:
            rows.append((float(arrived), subject))
    return rows


# ------------------------------------------------------------------ the suite's processes


class Suite:
    def __init__(self, amqp: str, mail_port: int, base: Path) -> None:
        from notifications import admin  # bench/notifications.py

        self.admin = admin
        self.base = base
        self.run = uuid.uuid4().hex[:6]
        pg = os.environ.get("DIVERSION_BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
        prefix = pg.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg2://")
        self.databases = {s: f"diversion_bench_suite_{s}_{self.run}" for s in SERVICES}
        self.urls = {s: f"{prefix}/{name}" for s, name in self.databases.items()}
        from notifications import free_port

        self.ports = {s: free_port() for s in SERVICES}
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("DIVERSION_")}
        self.env.update({
            "PYTHONPATH": str(ROOT), "DIVERSION_AMQP_URI": amqp, "DIVERSION_DATA_DIR": str(base / "var"),
            "DIVERSION_JWT_SECRET": JWT_SECRET, "DIVERSION_LOG_LEVEL": "WARNING",
            "DIVERSION_NOTIFICATIONS_SMTP_HOST": "127.0.0.1", "DIVERSION_NOTIFICATIONS_SMTP_PORT": str(mail_port),
            "DIVERSION_NOTIFICATIONS_QUIET_HOURS_ENABLED": "false",
        })
        for s in SERVICES:
            self.env[f"DIVERSION_{s.upper()}_DATABASE_URL"] = self.urls[s]
            self.env[f"DIVERSION_{s.upper()}_HTTP_PORT"] = str(self.ports[s])
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def create(self) -> None:
        from shared import migrations

        for s, name in self.databases.items():
            self.admin(f'CREATE DATABASE "{name}"')
            migrations.upgrade(s, self.urls[s])
        subprocess.run([sys.executable, "-m", "shared.main", "seed", "intake"], env=self.env, cwd=ROOT, check=True,
                       capture_output=True, timeout=300)

    def start(self, name: str) -> None:
        log = (self.base / f"{name}.log").open("ab")
        self.procs[name] = subprocess.Popen([sys.executable, "-m", "shared.main", "serve", name], env=self.env,
                                            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)

    def ready(self, name: str) -> bool:
        import requests

        assert self.procs[name].poll() is None, (self.base / f"{name}.log").read_text()[-3000:]
        try:
            return requests.get(f"{self.url(name)}/readyz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def sigkill(self, name: str) -> None:
        self.procs[name].send_signal(signal.SIGKILL)
        self.procs[name].wait(10)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)

    def drop(self) -> None:
        for name in self.databases.values():
            self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def cases(self, referral_ids: list[str]) -> list[tuple[str, str]]:
        """(case id, referral id) of every case opened for these referrals."""
        import psycopg2

        dsn = self.urls["casework"].replace("postgresql+psycopg2://", "postgresql://")
        connection = psycopg2.connect(dsn)
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT id, referral_id FROM diversion_case WHERE referral_id = ANY(%s)",
                               (referral_ids,))
                return [(row[0], row[1]) for row in cursor.fetchall()]
        finally:
            connection.close()


def token(roles: tuple[str, ...], sub: str) -> str:
    from shared.auth import issue_token
    from shared.config import CommonSettings

    return issue_token(CommonSettings(jwt_secret=JWT_SECRET), agency=AGENCY, roles=roles, sub=sub)


def add_staff(suite: Suite) -> None:
    """Case managers with room for every case of the run, each with an email address in notifications."""
    import requests

    supervisor = {"Authorization": f"Bearer {token(('supervisor',), 'bench-supervisor')}"}
    for n in range(STAFF):
        subject = f"bench-cm-{n}"
        response = requests.post(f"{suite.url('casework')}/v1/staff", headers=supervisor, timeout=20, json={
            "name": f"Bench Case Manager {n}", "email": f"{subject}@example.org", "role": "case_manager",
            "programs": PROGRAMS, "caseload_cap": 500, "subject": subject})
        assert response.status_code == 201, response.text
        response = requests.put(f"{suite.url('notifications')}/v1/staff-contacts/{subject}", headers=supervisor,
                                timeout=20, json={"email": f"{subject}@example.org", "name": f"Bench CM {n}"})
        # 428: casework's staff.registered made the contact first, with the same email address
        assert response.status_code in (200, 201, 428), response.text


# ------------------------------------------------------------------ the load


@dataclass
class Sent:
    referral_id: str
    accept_sent: float  # time.time() when the accept request left


@dataclass
class Phase:
    label: str
    rate: float
    sent: list[Sent] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    started: float = 0.0
    posted_for: float = 0.0
    skipped: int = 0  # not posted: more than LATE_SECONDS behind the schedule
    load: tuple[float, float] = (0.0, 0.0)


FIRST_NAMES = ["Jordan", "Avery", "Riley", "Taylor", "Morgan", "Casey", "Jamie", "Quinn", "Rowan", "Skyler",
               "Dana", "Emerson", "Hayden", "Kendall", "Logan", "Parker", "Reese", "Sawyer", "Teagan", "Drew"]
LAST_NAMES = ["Bench", "Walker", "Hughes", "Price", "Bennett", "Foster", "Graham", "Hayes", "Jenkins", "Kelly",
              "Long", "Myers", "Perry", "Russell", "Sanders", "Stone", "Turner", "Ward", "Warren", "Wells"]
# Share of referrals whose defendant was referred before (intake's duplicate detection, casework's person link).
REPEAT_SHARE = float(os.environ.get("BENCH_SUITE_REPEAT_SHARE", "0.05"))
_people = random.Random(19)  # the same people every run
_people_lock = threading.Lock()
_referred: list[dict[str, str]] = []


def _defendant() -> dict[str, str]:
    """A defendant of the young-adult program's ages: a new person, or (REPEAT_SHARE) one referred before."""
    with _people_lock:
        if _referred and _people.random() < REPEAT_SHARE:
            return dict(_people.choice(_referred[-200:]))
        n = len(_referred)
        born = date.today() - timedelta(days=_people.randint(19 * 366, 24 * 365))
        person = {"first_name": _people.choice(FIRST_NAMES), "last_name": f"{_people.choice(LAST_NAMES)}-{n:05d}",
                  "date_of_birth": born.isoformat(), "phone": f"+1314555{n % 10000:04d}",
                  "email": f"person{n}@example.org"}
        _referred.append(person)
        return dict(person)


def referral_body() -> dict[str, Any]:
    today = date.today()
    return {
        "source": "police", "case_number": f"BENCH-{uuid.uuid4().hex[:10].upper()}",
        "defendant": _defendant(),
        "charges": [{"statute": "570.030", "description": "Stealing", "offense_class": "felony_d",
                     "offense_date": (today - timedelta(days=30)).isoformat(), "violent": None}],
        "history": {"convictions": [], "prior_diversions": [], "pending_cases": 0},
    }


def post_at_rate(suite: Suite, phase: Phase, seconds: float, during: Any = None) -> None:
    """Referral n is posted at start + n/rate (open loop: a slow answer does not slow the schedule)."""
    import requests

    local = threading.local()
    screener = {"Authorization": f"Bearer {token(('screener',), 'bench-screener')}"}
    lock = threading.Lock()

    def one() -> None:
        if time.monotonic() > phase.started + seconds + LATE_SECONDS:
            with lock:
                phase.skipped += 1  # the client fell this far behind the schedule: the rate is not sustained
            return
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        try:
            created = session.post(f"{suite.url('intake')}/v1/referrals", json=referral_body(), headers=screener,
                                   timeout=60)
            if created.status_code != 201:
                raise RuntimeError(f"referral answered {created.status_code}: {created.text[:200]}")
            referral_id = created.json()["id"]
            accept_sent = time.time()
            accepted = session.post(f"{suite.url('intake')}/v1/referrals/{referral_id}/decision", timeout=60,
                                    json={"action": "accept", "program": "young-adult"},
                                    headers={**screener, "If-Match": created.headers["ETag"]})
            if accepted.status_code != 200:
                raise RuntimeError(f"accept answered {accepted.status_code}: {accepted.text[:200]}")
            with lock:
                phase.sent.append(Sent(referral_id, accept_sent))
        except Exception as exc:  # noqa: BLE001 - counted and shown, the run goes on
            with lock:
                phase.errors.append(f"{type(exc).__name__}: {exc}")

    total = int(phase.rate * seconds)
    load_before = os.getloadavg()[0]
    phase.started = time.monotonic()
    with ThreadPoolExecutor(CLIENT_THREADS) as pool:
        for n in range(total):
            due = phase.started + n / phase.rate
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            pool.submit(one)
            if during is not None:
                during(time.monotonic() - phase.started)
    phase.posted_for = min(time.monotonic() - phase.started, seconds + LATE_SECONDS)
    phase.load = (load_before, os.getloadavg()[0])


def settle(suite: Suite, phase: Phase, mail_log: Path, stall: float = 90) -> dict[str, Any]:
    """Wait until every accepted referral's email has arrived (or nothing moved for `stall` s); the figures."""
    referral_ids = [s.referral_id for s in phase.sent]
    sent_at = {s.referral_id: s.accept_sent for s in phase.sent}
    last, since = -1, time.monotonic()
    while True:
        cases = suite.cases(referral_ids)
        subjects = Counter(subject for _, subject in caught(mail_log))
        done = sum(1 for case_id, _ in cases if subjects.get(f"New case assigned: {case_id}"))
        if done >= len(referral_ids):
            break
        if done != last:
            last, since = done, time.monotonic()
        elif time.monotonic() - since > stall:
            break
        time.sleep(0.25)
    arrivals: dict[str, list[float]] = {}
    for arrived, subject in caught(mail_log):
        arrivals.setdefault(subject, []).append(arrived)
    per_referral = Counter(referral for _, referral in cases)
    latencies = []
    emailed, duplicate_emails = 0, 0
    for case_id, referral_id in cases:
        times = arrivals.get(f"New case assigned: {case_id}", [])
        if times:
            emailed += 1
            duplicate_emails += len(times) - 1
            latencies.append(min(times) - sent_at[referral_id])
    first_accept = min(sent_at.values()) if sent_at else 0.0
    last_email = max((min(arrivals[f"New case assigned: {c}"]) for c, _ in cases
                      if arrivals.get(f"New case assigned: {c}")), default=first_accept)
    return {
        "accepted": len(referral_ids), "cases": len(cases), "emailed": emailed,
        "lost": len(referral_ids) - emailed, "duplicate_cases": sum(n - 1 for n in per_referral.values()),
        "duplicate_emails": duplicate_emails, "latencies": sorted(latencies),
        "through": emailed / max(last_email - first_accept, 1e-3),
    }


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, max(0, round(p / 100 * len(values)) - 1))]


# ------------------------------------------------------------------ the raw pipeline


def raw_broker(amqp: str, rate: float, n_latency: int, n_flat: int) -> dict[str, float]:
    """One broker hop as the suite makes it: persistent publish with a confirm to a quorum queue -> consume, ack."""
    from kombu import Connection, Queue

    name = f"bench.suite.raw.{uuid.uuid4().hex[:6]}"
    received: queue.Queue[float] = queue.Queue()
    ready = threading.Event()
    stop = threading.Event()

    def consume() -> None:
        with Connection(amqp) as connection:
            channel = connection.channel()
            q = Queue(name, durable=True, queue_arguments={"x-queue-type": "quorum"}, channel=channel)
            q.declare()
            channel.basic_qos(0, 100, False)

            def on_message(body: Any, message: Any) -> None:
                received.put(time.time() - float(body))
                message.ack()

            with connection.Consumer(q, callbacks=[on_message], accept=["text/plain"]):
                ready.set()
                while not stop.is_set():
                    try:
                        connection.drain_events(timeout=0.2)
                    except TimeoutError:
                        continue
            q.delete()

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    ready.wait(30)
    figures: dict[str, float] = {}
    with Connection(amqp, transport_options={"confirm_publish": True}) as connection:
        producer = connection.Producer(connection.default_channel)

        def send() -> None:
            producer.publish(f"{time.time():.6f}", routing_key=name, content_type="text/plain", delivery_mode=2)

        started = time.monotonic()
        for n in range(n_latency):
            pause = started + n / rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            send()
        latencies = sorted(received.get(timeout=30) for _ in range(n_latency))
        figures["p50"], figures["p99"] = pct(latencies, 50), pct(latencies, 99)
        started = time.perf_counter()
        for _ in range(n_flat):
            send()
        for _ in range(n_flat):
            received.get(timeout=60)
        figures["rate"] = n_flat / (time.perf_counter() - started)
    stop.set()
    thread.join(10)
    return figures


def raw_smtp(port: int, mail_log: Path, rate: float, n_latency: int, n_flat: int) -> dict[str, float]:
    """One email as notifications sends it (a fresh SMTP connection each) to the same catcher."""
    def send(subject: str) -> float:
        sent = time.time()
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
            smtp.sendmail("bench@example.org", ["cm@example.org"], f"Subject: {subject}\r\n\r\nraw\r\n".encode())
        return sent

    run = uuid.uuid4().hex[:6]
    sent_at = {}
    started = time.monotonic()
    for n in range(n_latency):
        pause = started + n / rate - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        sent_at[f"raw-{run}-{n}"] = send(f"raw-{run}-{n}")
    arrivals = {subject: arrived for arrived, subject in caught(mail_log)}
    latencies = sorted(arrivals[s] - t for s, t in sent_at.items() if s in arrivals)
    figures = {"p50": pct(latencies, 50), "p99": pct(latencies, 99)}
    started_flat = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: send(f"rawflat-{run}-{n}"), range(n_flat)))
    figures["rate"] = n_flat / (time.perf_counter() - started_flat)
    return figures


# ------------------------------------------------------------------ the run


def report(phase: Phase, figures: dict[str, Any], raw_p50: float, raw_p99: float) -> None:
    lat = figures["latencies"]
    posted = len(phase.sent) / max(phase.posted_for, 1e-3)
    print(f"  {phase.label}: offered {phase.rate:g} referrals/s for {int(phase.rate * SECONDS_OF[phase.label])} "
          f"referrals; posted and accepted {len(phase.sent)} at {posted:.1f}/s ({len(phase.errors)} HTTP errors, "
          f"{phase.skipped} not posted: over {LATE_SECONDS:g} s behind the schedule); "
          f"load average {phase.load[0]:.2f} -> {phase.load[1]:.2f}")
    print(f"      accept -> email: p50 {pct(lat, 50) * 1000:7.1f} ms, p99 {pct(lat, 99) * 1000:7.1f} ms, "
          f"max {(lat[-1] if lat else float('nan')) * 1000:7.1f} ms; through the whole flow "
          f"{figures['through']:.1f} referrals/s (first accept to last email)")
    print(f"      raw pipeline beside it (2 broker hops + 1 SMTP send): p50 {raw_p50 * 1000:.1f} ms, "
          f"p99 {raw_p99 * 1000:.1f} ms; the suite's p50 is {pct(lat, 50) / raw_p50:.1f}x, p99 "
          f"{pct(lat, 99) / raw_p99:.1f}x")
    print(f"      {figures['accepted']} accepted, {figures['cases']} cases, {figures['emailed']} emailed: "
          f"lost {figures['lost']}, duplicated cases {figures['duplicate_cases']}, "
          f"duplicated emails {figures['duplicate_emails']}")
    if phase.errors:
        print(f"      first HTTP error: {phase.errors[0]}")


SECONDS_OF: dict[str, float] = {}


def main() -> None:
    from notifications import OwnBroker, cpu_seconds, free_port, wait_until

    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    base = Path(tempfile.mkdtemp(prefix="bench-suite-"))
    broker = OwnBroker()
    catcher = None
    suite = None
    try:
        print(f"suite bench: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at the start; "
              f"a RabbitMQ node and PostgreSQL databases of its own")
        broker.start()
        mail_port = free_port()
        mail_log = base / "mail.tsv"
        catcher = subprocess.Popen([sys.executable, __file__, "catch", str(mail_port), str(mail_log)],
                                   stdout=subprocess.PIPE)
        assert catcher.stdout is not None and catcher.stdout.readline().strip() == b"ready"
        suite = Suite(broker.uri, mail_port, base)
        suite.create()
        for name in SERVICES:
            suite.start(name)
        for name in SERVICES:
            wait_until(lambda n=name: suite.ready(n), 120, f"{name} to be ready", every=0.2)
        add_staff(suite)

        # Warm-up (connections, caches, queues declared), not measured.
        warm = Phase("warm-up", LOW_RATE)
        SECONDS_OF[warm.label] = 2
        post_at_rate(suite, warm, 2)
        settle(suite, warm, mail_log)

        broker_raw = raw_broker(broker.uri, LOW_RATE, int(LOW_RATE * 10), 5000)
        smtp_raw = raw_smtp(mail_port, mail_log, LOW_RATE, int(LOW_RATE * 10), 500)
        raw_p50 = 2 * broker_raw["p50"] + smtp_raw["p50"]
        raw_p99 = 2 * broker_raw["p99"] + smtp_raw["p99"]
        raw_rate = min(broker_raw["rate"] / 2, smtp_raw["rate"])
        print(f"  raw broker hop (confirmed publish -> consume, ack), quorum queue: "
              f"p50 {broker_raw['p50'] * 1000:.1f} ms, p99 {broker_raw['p99'] * 1000:.1f} ms at {LOW_RATE:g}/s; "
              f"{broker_raw['rate']:.0f} messages/s flat out")
        print(f"  raw SMTP send to the catcher (a connection each): p50 {smtp_raw['p50'] * 1000:.1f} ms, "
              f"p99 {smtp_raw['p99'] * 1000:.1f} ms at {LOW_RATE:g}/s; {smtp_raw['rate']:.0f} emails/s flat out "
              f"(8 threads); raw pipeline bound: {raw_rate:.0f} referrals/s")

        results = {}
        for label, rate, seconds in (("low rate", LOW_RATE, SECONDS), ("high rate", HIGH_RATE, SECONDS)):
            phase = Phase(label, rate)
            SECONDS_OF[label] = seconds
            cpu_before = {name: cpu_seconds([proc.pid]) for name, proc in suite.procs.items()}
            post_at_rate(suite, phase, seconds)
            figures = settle(suite, phase, mail_log)
            report(phase, figures, raw_p50, raw_p99)
            done = max(figures["emailed"], 1)
            print("      CPU per referral: " + ", ".join(
                f"{name} {(cpu_seconds([proc.pid]) - cpu_before[name]) * 1000 / done:.1f} ms"
                for name, proc in suite.procs.items()))
            results[label] = (phase, figures)
        low = results["low rate"][1]["latencies"]
        high_phase, high = results["high rate"]
        print(f"  target p99 < 300 ms at {LOW_RATE:g}/s: {'met' if pct(low, 99) < 0.3 else 'NOT met'}; "
              f"target >= 200 referrals/s through the whole flow: "
              f"{'met' if high['through'] >= 200 and len(high_phase.sent) >= 0.99 * HIGH_RATE * SECONDS else 'NOT met'}"
              f" ({high['through']:.1f}/s at {HIGH_RATE:g}/s offered; raw pipeline bound {raw_rate:.0f}/s: "
              f"{high['through'] / raw_rate:.1%})")

        kills: list[float] = []

        def kill_casework(elapsed: float) -> None:
            if elapsed >= KILL_EVERY * (len(kills) + 1):
                suite.sigkill("casework")
                kills.append(elapsed)
                suite.start("casework")  # at once, as a supervisor would

        phase = Phase(f"casework SIGKILLed every {KILL_EVERY:g} s", LOW_RATE)
        SECONDS_OF[phase.label] = KILL_SECONDS
        post_at_rate(suite, phase, KILL_SECONDS, during=kill_casework)
        wait_until(lambda: suite.ready("casework"), 120, "casework to be ready after the last kill", every=0.2)
        figures = settle(suite, phase, mail_log)
        report(phase, figures, raw_p50, raw_p99)
        faulted = figures["latencies"]
        clean = not (figures["lost"] or figures["duplicate_cases"] or figures["duplicate_emails"])
        print(f"      {len(kills)} kills (at {', '.join(f'{k:.0f}' for k in kills)} s); latency cost of the kills: "
              f"p50 {(pct(faulted, 50) - pct(low, 50)) * 1000:+.1f} ms, "
              f"p99 {(pct(faulted, 99) - pct(low, 99)) * 1000:+.1f} ms against the low rate without kills; "
              f"{'0 lost, 0 duplicated' if clean else 'LOST OR DUPLICATED: see above'}")
        print(f"  load average at the end: {os.getloadavg()[0]:.2f}")
    finally:
        if suite is not None:
            suite.stop()
            suite.drop()
        if catcher is not None:
            catcher.terminate()
            catcher.wait(10)
        broker.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "catch":
        catch(int(sys.argv[2]), sys.argv[3])
    else:
        main()
