"""Many AMQP frames, one socket write: what a batch of publishes or acks costs on the wire.

py-amqp writes every frame with its own `sendall`: a relay batch of 50 events is 50 writes (and 50 TCP
packets the broker reads one by one), a consumer batch's acks 50 more. `gathered(connection)` collects the
frames the current green thread writes on `connection` and sends them in one write when the block ends,
even if it raises (a frame already handed over is never dropped: the broker's delivery tags and ours stay
in step). Frames other green threads write meanwhile go out at once, as before.

A connection gets the gathering writer the first time; from then on all its frames pass through one lock
of ours, so a gathered write can never interleave with another green thread's half-sent frame. Nothing
else about the connection changes: frames, their order and content are exactly py-amqp's.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from amqp.method_framing import frame_writer

_INSTALLED = "_diversion_gathering"


class _GatheringTransport:
    """What py-amqp's frame writer writes to: the socket, or the gathering thread's list."""

    def __init__(self, transport: Any) -> None:
        self._write = transport.write
        self._lock = threading.Lock()  # green under eventlet's monkey patching
        self.gathering: dict[int, list[bytes]] = {}

    def write(self, data: Any) -> None:
        chunks = self.gathering.get(threading.get_ident())
        if chunks is not None:
            chunks.append(bytes(data))  # py-amqp reuses its buffer for the next frame
            return
        with self._lock:
            self._write(data)

    def flush(self, chunks: list[bytes]) -> None:
        if chunks:
            with self._lock:
                self._write(b"".join(chunks))


def _gathering(connection: Any) -> _GatheringTransport:
    transport: _GatheringTransport | None = getattr(connection, _INSTALLED, None)
    if transport is None or transport._write != connection.transport.write:  # first use, or reconnected
        transport = _GatheringTransport(connection.transport)
        connection.frame_writer = frame_writer(connection, transport)
        setattr(connection, _INSTALLED, transport)
    return transport


@contextmanager
def gathered(connection: Any) -> Iterator[None]:
    """Frames this green thread writes on `connection` (a py-amqp connection) inside go out in one write."""
    if connection is None or getattr(connection, "transport", None) is None:
        yield
        return
    transport = _gathering(connection)
    me = threading.get_ident()
    if me in transport.gathering:  # nested: the outer block sends
        yield
        return
    chunks: list[bytes] = []
    transport.gathering[me] = chunks
    try:
        yield
    finally:
        del transport.gathering[me]
        transport.flush(chunks)
