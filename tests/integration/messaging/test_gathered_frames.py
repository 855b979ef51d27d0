"""Frames gathered into one socket write (shared.messaging.frames), on the real broker.

What a user notices: a relay batch or a batch's acks arrive complete and in order, in fewer writes; and a
green thread writing on the same connection meanwhile is neither delayed nor interleaved into the batch.
"""

from __future__ import annotations

import uuid

import eventlet
from amqp import Message
from kombu import Connection

from conftest import AMQP
from shared.messaging.frames import gathered


def _queue(connection: Connection) -> tuple[object, str]:
    channel = connection.channel()
    name = f"diversion.test.gathered.{uuid.uuid4().hex[:8]}"
    channel.queue_declare(name, durable=False, auto_delete=False)
    return channel, name


def _count_writes(connection: Connection) -> list[int]:
    """Record the size of every socket write on the connection's transport (below the frame writer)."""
    transport = connection.connection.transport
    sizes: list[int] = []
    real = transport._write

    def write(data: object) -> None:
        sizes.append(len(data))  # type: ignore[arg-type]
        real(data)

    transport._write = write
    return sizes


def _drain(channel: object, name: str, n: int) -> list[bytes]:
    bodies = []
    for _ in range(n * 10):
        message = channel.basic_get(name, no_ack=True)  # type: ignore[attr-defined]
        if message is None:
            eventlet.sleep(0.05)
            continue
        bodies.append(message.body)
        if len(bodies) == n:
            break
    return bodies


def test_fifty_publishes_gathered_go_out_in_one_write_complete_and_in_order() -> None:
    with Connection(AMQP) as connection:
        connection.connect()
        channel, name = _queue(connection)
        sizes = _count_writes(connection)
        try:
            with gathered(connection.connection):
                for n in range(50):
                    channel._basic_publish(Message(f"event {n}".encode()), exchange="", routing_key=name)
                assert sizes == [], "nothing may leave before the block ends"
            assert len(sizes) == 1
            assert _drain(channel, name, 50) == [f"event {n}".encode() for n in range(50)]
        finally:
            channel.queue_delete(name)


def test_a_block_that_raises_still_sends_what_it_wrote_and_other_threads_write_at_once() -> None:
    with Connection(AMQP) as connection:
        connection.connect()
        channel, name = _queue(connection)
        sizes = _count_writes(connection)
        other_wrote: list[int] = []

        def other() -> None:
            channel._basic_publish(Message(b"other"), exchange="", routing_key=name)
            other_wrote.append(len(sizes))

        try:
            try:
                with gathered(connection.connection):
                    channel._basic_publish(Message(b"first"), exchange="", routing_key=name)
                    eventlet.spawn(other).wait()  # another green thread, while this one gathers
                    assert other_wrote == [1], "the other thread's frame went out at once, alone"
                    channel._basic_publish(Message(b"second"), exchange="", routing_key=name)
                    raise RuntimeError("the batch failed half way")
            except RuntimeError:
                pass
            assert len(sizes) == 2
            assert _drain(channel, name, 3) == [b"other", b"first", b"second"]
        finally:
            channel.queue_delete(name)


def test_a_connection_used_again_after_a_reconnect_gathers_on_its_new_socket() -> None:
    with Connection(AMQP) as connection:
        connection.connect()
        with gathered(connection.connection):
            pass
        connection.close()
        connection.connect()
        channel, name = _queue(connection)
        sizes = _count_writes(connection)
        try:
            with gathered(connection.connection):
                channel._basic_publish(Message(b"after"), exchange="", routing_key=name)
            assert len(sizes) == 1
            assert _drain(channel, name, 1) == [b"after"]
        finally:
            channel.queue_delete(name)
