# ruff: noqa: E402  (eventlet must patch before the other imports)
"""Fixtures for the messaging fault tests: fresh databases, unique names, service processes, an own broker."""

from __future__ import annotations

import eventlet

# nameko 2.14's pytest plugin no longer patches; the in-process services need a green socket and threads.
eventlet.monkey_patch()

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

import messaging_support as support
import psycopg2
import pytest
from kombu import Connection

PG_ADMIN = os.environ.get("DIVERSION_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
AMQP = os.environ.get("DIVERSION_TEST_AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/")
RUNNER = Path(__file__).with_name("runner.py")
SESSION = f"m{uuid.uuid4().hex[:6]}"  # every name this run declares starts with diversion.<SESSION>
VHOST = unquote(urlsplit(AMQP).path[1:]) or "/"  # the run's own vhost (root conftest.py creates it)


wait_for = support.wait_for


def _admin(sql: str) -> None:
    connection = psycopg2.connect(PG_ADMIN)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
    finally:
        connection.close()


@pytest.fixture
def names() -> Callable[[str], str]:
    test = uuid.uuid4().hex[:4]
    return lambda role: f"{SESSION}{test}{role}"


@pytest.fixture
def databases() -> Iterator[dict[str, str]]:
    """A publisher and a consumer database of their own (`diversion_test_msg_*`), dropped afterwards."""
    made = {}
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg2://")
    for role, model_base in (("pub", support.PublisherBase), ("con", support.ConsumerBase)):
        name = f"diversion_test_msg_{uuid.uuid4().hex[:8]}_{role}"
        _admin(f'CREATE DATABASE "{name}"')
        made[role] = name
        support.create_tables(f"{base}/{name}", model_base)
    yield {role: f"{base}/{name}" for role, name in made.items()}
    for name in made.values():
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _rabbitmqctl(*args: str, node: str | None = None, env: dict[str, str] | None = None) -> str:
    command = ["rabbitmqctl", "-q"] + (["-n", node] if node else []) + list(args)
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=True, env=env).stdout


def declared_queues(prefix: str) -> list[tuple[str, str, str]]:
    """(name, type, arguments) of queues starting with `prefix`, read-only from the shared broker."""
    out = _rabbitmqctl("list_queues", "-p", VHOST, "name", "type", "arguments", "--no-table-headers")
    rows = [line.split("\t") for line in out.splitlines() if line.startswith(prefix)]
    return [(row[0], row[1], row[2] if len(row) > 2 else "") for row in rows]


@pytest.fixture(scope="session", autouse=True)
def delete_what_we_declared() -> Iterator[None]:
    yield
    prefix = f"diversion.{SESSION}"
    queues = [row[0] for row in declared_queues(prefix)]
    exchanges = [
        line
        for line in _rabbitmqctl("list_exchanges", "-p", VHOST, "name", "--no-table-headers").splitlines()
        if line.startswith(prefix)
    ]
    with Connection(AMQP) as connection:
        channel = connection.channel()
        for queue in queues:
            channel.queue_delete(queue)
        for exchange in exchanges:
            channel.exchange_delete(exchange)


class Process:
    def __init__(self, args: list[str], log: Path) -> None:
        self.args, self.log = args, log
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self, ready_timeout: float = 30) -> Process:
        ready = self.log.with_suffix(f".ready{uuid.uuid4().hex[:4]}")
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen([*self.args, "--ready", str(ready)], stdout=out, stderr=out)
        wait_for(lambda: ready.exists() or self.popen.poll() is not None, ready_timeout, f"{self.args[2]} to start")
        assert self.popen.poll() is None, f"{self.args[2]} exited: {self.log.read_text()[-3000:]}"
        return self

    def kill(self) -> None:
        if self.popen and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait(10)

    def wait_dead(self, timeout: float) -> int:
        assert self.popen is not None
        return self.popen.wait(timeout)


@pytest.fixture
def service_process(tmp_path: Path) -> Iterator[Callable[..., Process]]:
    started: list[Process] = []

    def make(
        role: str, name: str, *, amqp: str, db: str, source: str | None = None, fault: str | None = None,
        pace: float = 0.0,
    ) -> Process:
        args = [sys.executable, str(RUNNER), role, name, "--amqp", amqp, "--db", db, "--pace", str(pace)]
        if source:
            args += ["--source", source]
        if fault:
            args += ["--fault", fault]
        process = Process(args, tmp_path / f"{name}.log")
        started.append(process)
        return process

    yield make
    for process in started:
        process.kill()


class OwnBroker:
    """A RabbitMQ node of the test's own (other ports, own data dir); the shared node is never touched."""

    def __init__(self, base: Path) -> None:
        self.base = base
        # Free ports and a node name of its own, so two test runs on one machine never share a node.
        from tests.conftest import free_port

        self.port = free_port()
        self.node = f"difftest{uuid.uuid4().hex[:8]}@localhost"
        (base / "plugins").write_text("")
        self.env = {
            **os.environ,
            "HOME": str(base),  # its own Erlang cookie
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(free_port()),
            "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(base / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "plugins"),
            "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(base / "advanced.config"),
            "RABBITMQ_PID_FILE": str(base / "pid"),
        }
        self.popen: subprocess.Popen[bytes] | None = None
        self.uri = f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def start(self) -> None:
        assert not self._accepts(), f"port {self.port} is already taken; the test needs its own broker there"
        with (self.base / "server.log").open("ab") as out:
            self.popen = subprocess.Popen(
                ["/usr/lib/rabbitmq/bin/rabbitmq-server"], env=self.env, stdout=out, stderr=out, start_new_session=True
            )
        wait_for(self._accepts, 60, "the test broker to accept connections", every=0.3)
        assert self.popen.poll() is None, "the test broker exited"

    def _accepts(self) -> bool:
        try:
            with Connection(self.uri, connect_timeout=1) as connection:
                connection.connect()
            return True
        except Exception:  # noqa: BLE001 - not up yet
            return False

    def stop(self) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        # The CLI without the /usr/sbin wrapper, so it reads the node's cookie from our HOME.
        subprocess.run(
            ["/usr/lib/rabbitmq/bin/rabbitmqctl", "-n", self.node, "stop"],
            env=self.env,
            capture_output=True,
            timeout=60,
        )
        try:
            self.popen.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGTERM)  # our own process group, started in start()
            self.popen.wait(30)
        wait_for(lambda: not self._accepts(), 30, "the test broker to stop")


@pytest.fixture
def own_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnBroker]:
    broker = OwnBroker(tmp_path_factory.mktemp("rabbit"))
    broker.start()
    yield broker
    broker.stop()
