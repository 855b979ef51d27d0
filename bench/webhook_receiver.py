"""The benchmark's webhook receiver and raw client: asyncio, HTTP/1.1 keep-alive, nothing else.

Both the measured path (the notifications service) and the raw baseline POST to the same receiver, so
the baseline is the ceiling of *this* receiver on *this* machine. A Python `ThreadingHTTPServer` (one
thread per connection, full header parsing) topped out near 370 POSTs/s here, below the target; this
one parses just enough of each request (request line, content-length, whether it carries a
`webhook-signature`) and answers `200 ok` on the same connection.

    python bench/webhook_receiver.py serve                      prints its port, serves until killed
    python bench/webhook_receiver.py post URL N CONNECTIONS    raw signed POSTs; prints POSTs per second

GET /count answers the number of signed POSTs received so far.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

_OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: text/plain\r\n\r\nok"


class Receiver(asyncio.Protocol):
    signed = 0  # shared by all connections of the process

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.buffer = b""
        self.need = -1  # body bytes still expected for the current request, -1 while reading headers
        self.is_signed = False
        self.is_count = False

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            if self.need < 0:
                end = self.buffer.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = self.buffer[:end].lower()
                self.buffer = self.buffer[end + 4 :]
                self.is_count = head.startswith(b"get ")
                self.is_signed = b"\r\nwebhook-signature:" in head
                self.need = 0
                at = head.find(b"\r\ncontent-length:")
                if at >= 0:
                    stop = head.find(b"\r\n", at + 2)
                    self.need = int(head[at + 17 : stop if stop >= 0 else None])
            if len(self.buffer) < self.need:
                return
            self.buffer = self.buffer[self.need :]
            self.need = -1
            if self.is_count:
                body = str(Receiver.signed).encode()
                self.transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
            else:
                if self.is_signed:
                    Receiver.signed += 1
                self.transport.write(_OK)


async def _serve() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Receiver, "127.0.0.1", 0, backlog=2048)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


async def _post(url: str, n: int, connections: int) -> float:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from services.notifications.channels.signing import generate_secret, webhook_headers

    host_port, _, path = url.removeprefix("http://").partition("/")
    host, _, port = host_port.partition(":")
    secret = generate_secret()
    body = json.dumps({"type": "org.diversion.resources.service_referral.requested", "data": {"n": 0}}).encode()
    sent = 0

    async def one_connection() -> None:
        nonlocal sent
        reader, writer = await asyncio.open_connection(host, int(port))
        while sent < n:
            sent += 1
            # Signed per request, as the service does: HMAC over id.timestamp.body.
            headers = webhook_headers([secret], f"msg_{sent}", int(time.time()), body)
            head = "".join(f"{key}: {value}\r\n" for key, value in headers.items())
            writer.write(
                f"POST /{path} HTTP/1.1\r\nhost: {host_port}\r\ncontent-type: application/json\r\n"
                f"content-length: {len(body)}\r\n{head}\r\n".encode() + body
            )
            status = await reader.readuntil(b"\r\n\r\n")
            length = int(status.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(one_connection() for _ in range(connections)))
    return n / (time.perf_counter() - started)


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        asyncio.run(_serve())
    else:
        print(f"{asyncio.run(_post(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))):.1f}", flush=True)
