"""Code that connects by itself (the outbox relay, readiness, the start check) tries every node of the list."""

from __future__ import annotations

import pytest

from shared.brokers import connect
from shared.runner import BrokerUnreachable, check_broker
from tests.conftest import AMQP_URI, free_port


def down() -> str:
    return f"amqp://guest:guest@127.0.0.1:{free_port()}/"  # nothing listens there


def test_the_first_node_that_answers_is_used_when_the_ones_before_it_are_down():
    connection = connect(f"{down()};{down()};{AMQP_URI}", timeout=2)
    try:
        assert connection.connected and connection.as_uri() == connect(AMQP_URI).as_uri()
    finally:
        connection.release()
    check_broker(f"{down()};{AMQP_URI}")


def test_no_node_answering_is_an_error_naming_every_node():
    first, second = down(), down()
    with pytest.raises(Exception, match="(?i)refused"):
        connect(f"{first};{second}", timeout=2)
    with pytest.raises(BrokerUnreachable) as raised:
        check_broker(f"{first};{second}", timeout=2)
    assert first.split("@")[1] in str(raised.value) and second.split("@")[1] in str(raised.value)
