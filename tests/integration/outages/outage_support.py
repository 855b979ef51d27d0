"""What the outage tests run on: a three-node RabbitMQ cluster and a PostgreSQL instance of their own, the real
services as processes, and a flow of referrals through intake → casework → notifications that is counted.

Nothing here touches the machine's shared RabbitMQ or PostgreSQL beyond creating and dropping this run's own
databases: the cluster's nodes and the PostgreSQL instance listen on free ports, keep their data under a
directory of their own, and are stopped afterwards.
"""

from __future__ import annotations

import concurrent.futures
import glob
import json
import os
import secrets
import shutil
import signal
import string
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any

import psycopg2
import pytest
import requests
from kombu import Connection

from shared import migrations
from tests.conftest import JWT_SECRET, create_database, drop_database, free_port, make_token
from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parents[3]
RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")  # the CLI without the /usr/sbin wrapper, so it reads our HOME's cookie
FLOW_SERVICES = ("intake", "casework", "notifications")
PROGRAM = "young-adult"


# ---------------------------------------------------------------------------------------------- RabbitMQ


class RabbitNode:
    """One node of the test's cluster: its own ports, name, data and log dirs; the cluster's shared cookie."""

    def __init__(self, base: Path, home: Path, name: str) -> None:
        self.base, self.name = base, name
        self.port = free_port()
        self.node = f"{name}@localhost"
        base.mkdir(parents=True, exist_ok=True)
        (base / "plugins").write_text("")
        self.env = {
            **os.environ,
            "HOME": str(home),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(free_port()),
            "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(base / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "plugins"),
            "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(base / "advanced.config"),
            "RABBITMQ_PID_FILE": str(base / "pid"),
            # Schedulers that sleep instead of spinning: the machine has two cores for everybody.
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "+sbwt none +sbwtdcpu none +sbwtdio none",
        }
        self.popen: subprocess.Popen[bytes] | None = None
        self.uri = f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def start(self) -> None:
        assert not self.accepts(), f"port {self.port} is already taken; the test needs its own node there"
        with (self.base / "server.log").open("ab") as out:
            self.popen = subprocess.Popen([str(RABBIT_BIN / "rabbitmq-server")], env=self.env, stdout=out,
                                          stderr=out, start_new_session=True)

    def wait_started(self, timeout: float = 120) -> None:
        def up() -> bool:
            assert self.popen is not None and self.popen.poll() is None, (
                f"{self.node} exited: {(self.base / 'server.log').read_text()[-2000:]}")
            return self.accepts()

        wait_for(up, timeout, f"{self.node} to accept connections", every=0.3)

    def accepts(self) -> bool:
        try:
            with Connection(self.uri, connect_timeout=1) as connection:
                connection.connect()
            return True
        except Exception:  # noqa: BLE001 - not up (yet, or any more)
            return False

    def ctl(self, *args: str, timeout: float = 120) -> str:
        result = subprocess.run([str(RABBIT_BIN / "rabbitmqctl"), "-q", "-n", self.node, *args], env=self.env,
                                capture_output=True, text=True, timeout=timeout)
        assert result.returncode == 0, f"rabbitmqctl -n {self.node} {' '.join(args)}: {result.stderr[-2000:]}"
        return result.stdout

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self) -> None:
        if not self.running:
            return
        assert self.popen is not None
        subprocess.run([str(RABBIT_BIN / "rabbitmqctl"), "-n", self.node, "stop"], env=self.env,
                       capture_output=True, timeout=120)
        try:
            self.popen.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGTERM)  # our own process group, started in start()
            self.popen.wait(30)
        wait_for(lambda: not self.accepts(), 30, f"{self.node} to stop")


class OwnCluster:
    """Three RabbitMQ nodes joined into one cluster (`join_cluster`), each on free ports; stopped afterwards."""

    def __init__(self, base: Path, size: int = 3) -> None:
        run = uuid.uuid4().hex[:6]
        self.home = base / "home"
        self.home.mkdir(parents=True)
        cookie = self.home / ".erlang.cookie"
        cookie.write_text("".join(secrets.choice(string.ascii_uppercase) for _ in range(24)))
        cookie.chmod(0o400)
        self.nodes = [RabbitNode(base / letter, self.home, f"dcl{run}{letter}") for letter in "abc"[:size]]

    @property
    def uri(self) -> str:
        """What the services get: every node, `;`-separated (kombu's failover form)."""
        return ";".join(node.uri for node in self.nodes)

    def start(self) -> None:
        for node in self.nodes:
            node.start()
        for node in self.nodes:
            node.wait_started()
        seed = self.nodes[0]
        for node in self.nodes[1:]:
            node.ctl("stop_app")
            node.ctl("join_cluster", seed.node)
            node.ctl("start_app")
        wait_for(lambda: len(self.running_nodes()) == len(self.nodes), 60, "every node running in the cluster",
                 every=0.5)

    def any_running(self) -> RabbitNode:
        return next(node for node in self.nodes if node.running and node.accepts())

    def running_nodes(self, via: RabbitNode | None = None) -> list[str]:
        status = json.loads((via or self.any_running()).ctl("cluster_status", "--formatter", "json"))
        return sorted(status.get("running_nodes", []))

    def node_named(self, node: str) -> RabbitNode:
        return next(n for n in self.nodes if n.node == node)

    def queues(self) -> list[dict[str, Any]]:
        """Every queue of the cluster with its type, messages, leader and members online."""
        out = self.any_running().ctl("list_queues", "--formatter", "json", "name", "type", "messages", "leader",
                                     "members", "online")
        return [q for q in json.loads(out or "[]") if isinstance(q, dict)]

    def queue_counts(self, names: Iterable[str]) -> dict[str, tuple[int, int]]:
        """(messages ready, consumers) per queue, read with passive declares on a running node."""
        counts = {}
        with Connection(self.any_running().uri, connect_timeout=3) as connection:
            for name in names:
                channel = connection.channel()
                try:
                    _, messages, consumers = channel.queue_declare(name, passive=True)
                    counts[name] = (int(messages), int(consumers))
                finally:
                    channel.close()
        return counts

    def stop(self) -> None:
        for node in reversed(self.nodes):
            try:
                node.stop()
            except Exception:  # noqa: BLE001 - stop the others regardless
                if node.popen is not None and node.popen.poll() is None:
                    os.killpg(node.popen.pid, signal.SIGKILL)


# -------------------------------------------------------------------------------------------- PostgreSQL


def _pg_bin(tool: str) -> str:
    found = shutil.which(tool) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{tool}"), reverse=True)),
                                       None)
    assert found, f"{tool} not found on PATH nor under /usr/lib/postgresql/*/bin"
    return found


class OwnPostgres:
    """A PostgreSQL instance of the test's own: initdb into a fresh directory, a free port, trust auth on
    127.0.0.1 only; stopped and deleted afterwards. PostgreSQL refuses to run as root: as root it runs as
    the `postgres` user (runuser)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="diversion-test-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            self.as_user = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.dir, "postgres", "postgres")
        self.running = False

    def _run(self, *args: str, timeout: float = 120) -> None:
        result = subprocess.run([*self.as_user, *args], capture_output=True, text=True, timeout=timeout)
        assert result.returncode == 0, f"{' '.join(args)}: {result.stdout[-1500:]} {result.stderr[-1500:]}"

    def init(self) -> None:
        self._run(_pg_bin("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--no-sync", "--no-instructions")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c max_connections=100"
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60",
                  "start")
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        if self.running:
            self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")
            self.running = False

    def accepts(self) -> bool:
        try:
            psycopg2.connect(self.dsn("postgres"), connect_timeout=1).close()
            return True
        except psycopg2.OperationalError:
            return False

    def dsn(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        connection = psycopg2.connect(self.dsn("postgres"))
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        connection.close()
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{name}"

    def remove(self) -> None:
        try:
            self.stop("immediate")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


# ---------------------------------------------------------------------------------------------- services


MAIL_SINK = """
import signal, sys, threading
from pathlib import Path
from shared.mailcatcher import MailCatcher
done = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: done.set())
with MailCatcher(Path(sys.argv[1]), port=int(sys.argv[2])):
    Path(sys.argv[3]).write_text("ready")
    done.wait()
"""


class MailSink:
    """The suite's local mail catcher in a process of its own; every email it caught is a file."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> MailSink:
        ready = self.directory.with_suffix(".ready")
        self.popen = subprocess.Popen([sys.executable, "-c", MAIL_SINK, str(self.directory), str(self.port),
                                       str(ready)], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
        wait_for(lambda: ready.exists() or self.popen.poll() is not None, 30, "the mail catcher")  # type: ignore[union-attr]
        assert self.popen.poll() is None, "the mail catcher exited"
        return self

    def count(self) -> int:
        return sum(1 for name in os.listdir(self.directory) if name.endswith(".eml"))

    def message_ids(self) -> Counter[str]:
        parser = BytesHeaderParser()
        found: Counter[str] = Counter()
        for path in self.directory.glob("*.eml"):
            with path.open("rb") as handle:
                found[str(parser.parse(handle).get("Message-ID", path.name)).strip("<>")] += 1
        return found

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.terminate()
            self.popen.wait(20)


class Suite:
    """intake, casework and notifications as `diversion serve` processes (as `make run` runs them) on
    databases of their own, on the given broker URI; each service's log is a file under `base`."""

    def __init__(self, base: Path, amqp_uri: str, mail: MailSink, databases: dict[str, str]) -> None:
        self.base, self.amqp_uri, self.databases = base, amqp_uri, databases
        self.ports = {s: free_port() for s in FLOW_SERVICES}
        self.urls = {s: f"http://127.0.0.1:{p}" for s, p in self.ports.items()}
        env = {k: v for k, v in os.environ.items() if not k.startswith("DIVERSION_")}
        env.update({"PYTHONPATH": str(ROOT), "DIVERSION_AMQP_URI": amqp_uri, "DIVERSION_DATA_DIR": str(base),
                    "DIVERSION_JWT_SECRET": JWT_SECRET, "DIVERSION_LOG_LEVEL": "WARNING",
                    "DIVERSION_NOTIFICATIONS_SMTP_HOST": "127.0.0.1",
                    "DIVERSION_NOTIFICATIONS_SMTP_PORT": str(mail.port),
                    "DIVERSION_NOTIFICATIONS_QUIET_HOURS_ENABLED": "false"})
        for s in FLOW_SERVICES:
            env[f"DIVERSION_{s.upper()}_DATABASE_URL"] = databases[s]
            env[f"DIVERSION_{s.upper()}_HTTP_PORT"] = str(self.ports[s])
        self.env = env
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def log(self, service: str) -> str:
        return (self.base / f"{service}.log").read_text(errors="replace")

    def start(self) -> None:
        for s in FLOW_SERVICES:
            migrations.upgrade(s, self.databases[s])
        for s in FLOW_SERVICES:
            with (self.base / f"{s}.log").open("ab") as out:
                self.procs[s] = subprocess.Popen([sys.executable, "-m", "shared.main", "serve", s], env=self.env,
                                                 stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        wait_for(lambda: all(self.ready(s) for s in FLOW_SERVICES), 120, "the services ready", every=0.3)

    def alive(self) -> None:
        for s, proc in self.procs.items():
            assert proc.poll() is None, f"{s} exited ({proc.returncode}): {self.log(s)[-3000:]}"

    def readiness(self, service: str) -> int | None:
        """The HTTP status of the service's /readyz (None when it does not answer)."""
        self.alive()
        try:
            return requests.get(f"{self.urls[service]}/readyz", timeout=5).status_code
        except requests.RequestException:
            return None

    def ready(self, service: str) -> bool:
        return self.readiness(service) == 200

    def broker_links(self, node_ports: dict[int, str]) -> dict[str, Counter[str]]:
        """Per service process: its established TCP connections, by broker node (from /proc)."""
        return {s: _tcp_peers(proc.pid, node_ports) for s, proc in self.procs.items()}

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def _tcp_peers(pid: int, node_ports: dict[int, str]) -> Counter[str]:
    """Established connections of process `pid` to one of `node_ports` (remote port → node), counted by node."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found: Counter[str] = Counter()
    for table in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            remote_port, state, inode = int(fields[2].rsplit(":", 1)[1], 16), fields[3], fields[9]
            if state == "01" and inode in inodes and remote_port in node_ports:
                found[node_ports[remote_port]] += 1
    return found


# -------------------------------------------------------------------------------------------------- flow


def referral(n: int, run: str) -> dict[str, Any]:
    """An adult of 22 with one non-violent class D felony and no history: eligible for young-adult."""
    return {
        "source": "police",
        "case_number": f"SOAK-{run}-{n:05d}",
        "external_id": f"soak-{run}-{n}",
        "defendant": {"first_name": "Dana", "last_name": f"Soak{run}{n}", "date_of_birth": "2003-04-05",
                      "email": f"dana{n}@example.org"},
        "charges": [{"statute": "570.030", "description": "Stealing", "offense_class": "felony_d",
                     "offense_date": "2026-03-01", "violent": None}],
        "history": {"convictions": [], "prior_diversions": [], "pending_cases": 0},
    }


@dataclass
class Counts:
    sent: int  # referrals accepted at intake
    cases: int
    case_duplicates: int  # cases beyond one per referral
    assigned: int  # cases with a case manager
    assigned_events: int  # case.assigned events casework recorded
    deliveries: int  # staff emails notifications delivered (one per case.assigned)
    delivery_duplicates: int
    emails: int  # distinct emails the mail catcher received
    email_duplicates: int  # copies of the same email beyond the first
    dead_letters: int
    unrouted: int  # kept in the publishers' unrouted queues: events no service of the flow subscribes to
    unrouted_by_queue: dict[str, int] = field(default_factory=dict)

    @property
    def lost(self) -> int:
        return self.sent - min(self.cases, self.assigned, self.deliveries, self.emails)

    def line(self) -> str:
        return (f"sent {self.sent}, cases {self.cases} (duplicates {self.case_duplicates}), assigned {self.assigned}, "
                f"staff emails delivered {self.deliveries} (duplicates {self.delivery_duplicates}), "
                f"emails caught {self.emails} (duplicates {self.email_duplicates}), lost {self.lost}, "
                f"dead letters {self.dead_letters}, "
                f"unrouted {self.unrouted_by_queue or 0} (no subscriber in this flow)")


@dataclass
class Flow:
    """Referrals of one fresh agency posted in batches, accepted one by one (read, then decide with If-Match),
    counted at each service's database and at the mail catcher."""

    urls: dict[str, str]
    databases: dict[str, str]
    mail: MailSink
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    referral_ids: list[str] = field(default_factory=list)
    accepted: list[str] = field(default_factory=list)
    agency: str = ""

    def __post_init__(self) -> None:
        self.agency = f"soak-{self.run}"
        self._lock = threading.Lock()
        self.http = requests.Session()
        self.http.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=16))

    def token(self, *roles: str, sub: str = "soak-user") -> str:
        return make_token(self.agency, roles, sub=sub)

    def call(self, method: str, service: str, path: str, token: str, expect: int, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
        response = self.http.request(method, self.urls[service] + path, headers=headers, timeout=60, **kwargs)
        assert response.status_code == expect, f"{method} {path}: {response.status_code} {response.text[:1000]}"
        return response

    def set_up(self, count: int, caseload_cap: int = 500) -> None:
        """The agency's pack in intake, enough case managers in casework, their email in notifications."""
        import yaml

        from services.intake.domain.ruleset import bundled_pack_text

        pack = yaml.safe_load(bundled_pack_text("stl-cao"))
        pack["agency"] = self.agency
        self.call("POST", "intake", "/v1/rulesets", self.token("admin"), 201, json=pack)
        supervisor = self.token("supervisor")
        for n in range(count // caseload_cap + 1):
            subject = f"cm{n}-{self.run}"  # the token `sub` events name the case manager by
            self.call("POST", "casework", "/v1/staff", supervisor, 201, json={
                "name": f"Case Manager {n}", "email": f"{subject}@example.org", "programs": [PROGRAM],
                "caseload_cap": caseload_cap, "subject": subject})
            # notifications learns their contact from staff.registered (a notice raised first waits for it)

    def submit(self, count: int) -> list[str]:
        """POST /v1/referrals:batch, 500 at a time; returns the new referrals' ids."""
        start = len(self.referral_ids)
        screener = self.token("screener")
        made = []
        for first in range(start, start + count, 500):
            items = [referral(n, self.run) for n in range(first, min(first + 500, start + count))]
            out = self.call("POST", "intake", "/v1/referrals:batch", screener, 200, json=items).json()
            assert out["created"] == len(items), out
            made += [item["id"] for item in out["results"]]
        self.referral_ids += made
        return made

    def accept(self, referral_id: str) -> None:
        current = self.call("GET", "intake", f"/v1/referrals/{referral_id}", self.token("supervisor"), 200)
        self.call("POST", "intake", f"/v1/referrals/{referral_id}/decision", self.token("screener", sub="soak-cm"),
                  200, json={"action": "accept", "program": PROGRAM}, headers={"If-Match": current.headers["ETag"]})
        with self._lock:
            self.accepted.append(referral_id)

    def accept_all(self, ids: list[str], workers: int = 6) -> None:
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            for future in [pool.submit(self.accept, referral_id) for referral_id in ids]:
                future.result()

    @contextmanager
    def accepting(self, ids: list[str], workers: int = 6, hold_after: int | None = None) -> Iterator[threading.Event]:
        """Accept `ids` in the background while the block runs; the block's end waits for the last one.

        With `hold_after`, acceptance pauses after that many until the block sets the event it is given, so
        what the block does then happens mid-run whatever the machine's speed."""
        failures: list[BaseException] = []
        go_on = threading.Event()
        if hold_after is None:
            go_on.set()

        def work() -> None:
            try:
                self.accept_all(ids[:hold_after], workers)
                go_on.wait(600)
                self.accept_all(ids[len(ids[:hold_after]):], workers)
            except BaseException as exc:  # noqa: BLE001 - reported to the test below
                failures.append(exc)

        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        try:
            yield go_on
        finally:
            go_on.set()
            thread.join(timeout=600)
        assert not thread.is_alive(), "accepting referrals did not finish in 10 minutes"
        if failures:
            raise failures[0]

    # -- counting ---------------------------------------------------------------------------------------

    def _scalar(self, service: str, sql: str) -> int:
        dsn = self.databases[service].replace("postgresql+psycopg2://", "postgresql://")
        connection = psycopg2.connect(dsn, connect_timeout=5)
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql)
                row = cursor.fetchone()
                return int(row[0] or 0) if row else 0
        finally:
            connection.close()

    def outbox_backlog(self, service: str) -> int:
        return self._scalar(service, "SELECT count(*) FROM outbox WHERE sent_at IS NULL")

    def emails_delivered(self) -> int:
        return self._scalar("notifications", "SELECT count(*) FROM delivery WHERE purpose = 'staff_assignment' "
                            f"AND status = 'delivered' AND agency_id = '{self.agency}'")

    def done(self, expected: int) -> bool:
        """Every accepted referral's email is at the mail catcher and recorded as delivered."""
        return self.mail.count() >= expected and self.emails_delivered() >= expected

    def quiet(self) -> bool:
        """Nothing in flight any more: no outbox row unsent, no delivery pending or sending."""
        backlog = sum(self._scalar(s, "SELECT count(*) FROM outbox WHERE sent_at IS NULL") for s in FLOW_SERVICES)
        pending = self._scalar("notifications", "SELECT count(*) FROM delivery WHERE status IN ('pending', 'sending')")
        return backlog == 0 and pending == 0

    def counts(self, broker_uri: str) -> Counts:
        ids = self.mail.message_ids()
        mine = f"agency_id = '{self.agency}'"
        cases = f"SELECT id FROM diversion_case WHERE {mine}"
        parked = parked_messages(broker_uri)
        return Counts(
            sent=len(self.accepted),
            cases=self._scalar("casework", f"SELECT count(DISTINCT referral_id) FROM diversion_case WHERE {mine}"),
            case_duplicates=self._scalar("casework", "SELECT count(*) - count(DISTINCT referral_id) FROM "
                                         f"diversion_case WHERE {mine}"),
            assigned=self._scalar("casework", f"SELECT count(*) FROM diversion_case WHERE {mine} "
                                  "AND case_manager_id IS NOT NULL"),
            assigned_events=self._scalar("casework", "SELECT count(*) FROM outbox WHERE event_type LIKE "
                                         f"'%.case.assigned' AND subject IN ({cases})"),
            deliveries=self._scalar("notifications", "SELECT count(DISTINCT trigger_event_id) FROM delivery "
                                    f"WHERE purpose = 'staff_assignment' AND status = 'delivered' AND {mine}"),
            delivery_duplicates=self._scalar("notifications", "SELECT count(*) - count(DISTINCT trigger_event_id) "
                                             f"FROM delivery WHERE purpose = 'staff_assignment' AND {mine}"),
            emails=len(ids),
            email_duplicates=sum(ids.values()) - len(ids),
            dead_letters=sum(n for name, n in parked.items() if name.endswith(".dlq")),
            unrouted=sum(n for name, n in parked.items() if name.endswith(".unrouted")),
            unrouted_by_queue={name: n for name, n in parked.items() if name.endswith(".unrouted") and n},
        )

    def absorbed_duplicates(self, urls: dict[str, str]) -> int:
        """Redelivered events the services' inboxes turned away (their `_duplicate_events_total` metrics)."""
        total = 0.0
        for url in urls.values():
            for line in requests.get(f"{url}/metrics", timeout=10).text.splitlines():
                if "_duplicate_events_total" in line and not line.startswith("#"):
                    total += float(line.rsplit(" ", 1)[1])
        return int(total)


def parked_messages(broker_uri: str) -> dict[str, int]:
    """Messages in each flow service's dead-letter and unrouted queues (a queue never declared holds none)."""
    found = {}
    with Connection(broker_uri, connect_timeout=3) as connection:
        for s in FLOW_SERVICES:
            for name in (f"diversion.{s}.dlq", f"diversion.{s}.unrouted"):
                channel = connection.channel()
                try:
                    found[name] = int(channel.queue_declare(name, passive=True)[1])
                except Exception:  # noqa: BLE001 - not declared: nothing parked there
                    found[name] = 0
                finally:
                    try:
                        channel.close()
                    except Exception:  # noqa: BLE001 - already closed by the failed declare
                        pass
    return found


@contextmanager
def shared_databases(label: str, services: Iterable[str]) -> Iterator[dict[str, str]]:
    """This run's own databases on the machine's PostgreSQL, dropped afterwards."""
    names = {s: f"diversion_test_{label}_{s}_{os.getpid()}_{uuid.uuid4().hex[:4]}" for s in services}
    urls = {s: create_database(name) for s, name in names.items()}
    try:
        yield urls
    finally:
        for name in names.values():
            drop_database(name)


class Clock:
    """Seconds since the test began, for the printed timeline."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.marks: dict[str, float] = {}

    def mark(self, what: str) -> float:
        self.marks[what] = time.monotonic() - self.start
        return self.marks[what]


# ---------------------------------------------------------------------------------------------- fixtures
# Here rather than in a conftest.py: the messaging tests import their own `conftest` by that name, and a second
# module called conftest in this directory could shadow it when both directories are given to one pytest run.

SHARED_BROKER = "amqp://guest:guest@127.0.0.1:5672"


@pytest.fixture(name="mail")
def mail_fixture(tmp_path: Path) -> Iterator[MailSink]:
    (tmp_path / "mail").mkdir()
    sink = MailSink(tmp_path / "mail").start()
    yield sink
    sink.stop()


@pytest.fixture(name="own_vhost")
def own_vhost_fixture() -> Iterator[str]:
    """A vhost of this test's own on the machine's broker (created and deleted with rabbitmqctl, as the root
    conftest does for the run), so no other test's services or leftovers share its queues."""
    name = f"diversion-outage-{uuid.uuid4().hex[:8]}"

    def ctl(*args: str) -> None:
        subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, text=True, timeout=120)

    ctl("add_vhost", name)
    ctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
    yield f"{SHARED_BROKER}/{name}"
    ctl("delete_vhost", name)
