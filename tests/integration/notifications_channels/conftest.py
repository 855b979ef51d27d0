"""Real receivers for channel tests: an HTTP server and an SMTP server on 127.0.0.1, in threads."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    peer: int = 0  # the client's port: the same for requests on one kept-alive connection


Reply = tuple[int, dict[str, str], bytes]


@dataclass
class Receiver:
    """An HTTP endpoint whose answers the test chooses (`reply`), recording every request."""

    url: str
    requests: list[Received] = field(default_factory=list)
    reply: Callable[[Received], Reply] = lambda request: (200, {}, b"ok")
    release: threading.Event = field(default_factory=threading.Event)

    def hang(self, request: Received) -> Reply:
        # Holds the answer until the test ends, to make the client time out.
        self.release.wait(10)
        return 200, {}, b"late"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real receivers do

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", 0))
            request = Received(
                "POST", self.path, {k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length),
                peer=self.client_address[1],
            )
            box = state["receiver"]
            box.requests.append(request)
            status, headers, body = box.reply(request)
            try:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout test)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    box = Receiver(url=f"http://127.0.0.1:{server.server_address[1]}")
    state["receiver"] = box
    yield box
    box.release.set()
    server.shutdown()
    server.server_close()


class MailSink:
    """aiosmtpd handler keeping every accepted envelope; refuses recipients at `refused.example`."""

    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address.endswith("@refused.example"):
            return "550 5.1.1 mailbox unavailable"
        if address.endswith("@busy.example"):
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, MailSink]]:
    sink = MailSink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, sink
    controller.stop()
