"""Fixtures for the notifications service: real HTTP and SMTP receivers, fast-ticking service instances."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from notifications_support import BASE_ENV, MailSink, Received, Receiver

from shared import migrations
from tests.conftest import _admin, create_database, drop_database, free_port


@pytest.fixture
def make_receiver() -> Iterator[Callable[[], Receiver]]:
    servers: list[tuple[ThreadingHTTPServer, Receiver]] = []

    def make() -> Receiver:
        box: dict[str, Receiver] = {}

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                request = Received(self.path, {k.lower(): v for k, v in self.headers.items()},
                                   self.rfile.read(length))
                receiver = box["r"]
                receiver.requests.append(request)
                status, headers, body = receiver.reply(request)
                try:
                    self.send_response(status)
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("content-length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 256  # the default 5 refuses connections under concurrent sends

        server = Server(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        receiver = Receiver(url=f"http://127.0.0.1:{server.server_address[1]}")
        box["r"] = receiver
        servers.append((server, receiver))
        return receiver

    yield make
    for server, receiver in servers:
        receiver.release.set()
        server.shutdown()
        server.server_close()


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, MailSink]]:
    sink = MailSink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, sink
    controller.stop()


@pytest.fixture(scope="session")
def notifications_template(pg_databases: dict[str, str]) -> Iterator[str]:
    """A migrated database nobody connects to, copied for each test (`diversion_test_nt_*`)."""
    name = f"diversion_test_nt_template_{os.getpid()}"
    create_database(name)
    url = pg_databases["notifications"].rsplit("/", 1)[0] + f"/{name}"
    migrations.upgrade("notifications", url)
    yield name
    drop_database(name)


_made: list[str] = []


@pytest.fixture
def notifications_db(notifications_template: str, pg_databases: dict[str, str]) -> Iterator[str]:
    """A fresh database per test: one test's reminders and retries never reach another's receivers."""
    name = f"diversion_test_nt_{uuid.uuid4().hex[:10]}"
    _admin(f'CREATE DATABASE "{name}" TEMPLATE "{notifications_template}"')
    yield pg_databases["notifications"].rsplit("/", 1)[0] + f"/{name}"
    _made.append(name)


@pytest.fixture(scope="session", autouse=True)
def _drop_test_databases() -> Iterator[None]:
    yield
    for name in _made:  # at the end: running containers were stopped by then
        drop_database(name)


@pytest.fixture
def notifications(start_service: Callable[..., Any], notifications_db: str) -> Callable[..., Any]:
    """Start a notifications instance (127.0.0.1 allowed, fast ticks) on this test's own database."""

    def start(**env: str) -> Any:
        return start_service("notifications", database_url=notifications_db, **{**BASE_ENV, **env})

    return start
