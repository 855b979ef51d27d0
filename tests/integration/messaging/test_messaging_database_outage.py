"""A consumer whose database goes away holds its events until it is back: none spends a delivery attempt, none
is dead-lettered, each is applied once afterwards, in batches and one by one alike."""

from __future__ import annotations

from typing import Any

import messaging_support as support
import pytest
from test_messaging_batches import consumer_container, publish

import shared.messaging.consumer as consumer_module
from conftest import AMQP, wait_for
from shared.db import database_reachable
from shared.messaging.metrics import dead_letter_depth, handler_failures
from tests.support.tcp_proxy import TcpProxy


@pytest.mark.parametrize("batch_size", [1, 100], ids=["one-by-one", "batches"])
def test_events_wait_for_their_database_instead_of_being_dead_lettered(
    names: Any, databases: dict[str, str], container_factory: Any, monkeypatch: pytest.MonkeyPatch, batch_size: int
) -> None:
    probes: list[bool] = []

    def probed(engine: Any) -> tuple[bool, str]:
        answer = database_reachable(engine)
        probes.append(answer[0])
        return answer

    monkeypatch.setattr(consumer_module, "database_reachable", probed)
    proxy = TcpProxy("127.0.0.1", 5432).start()
    try:
        url = databases["con"].replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
        publisher, consumer = names("pub"), names("con")
        consumer_container(container_factory, consumer, publisher, url, batch_size)
        publish(publisher, [support.case_opened(n) for n in range(10)])
        wait_for(lambda: support.effects(databases["con"], consumer) == (10, 10), 30, "the first 10 events")

        proxy.cut()
        publish(publisher, [support.case_opened(n) for n in range(10, 40)])
        # DIVERSION_DELIVERY_LIMIT is 3 with retries 0.05-0.2 s apart here: requeued, these events would be in
        # the dead-letter queue well before the consumer has found its database away 20 times.
        wait_for(lambda: probes.count(False) >= 20 or dead_letter_depth(AMQP, consumer), 60,
                 "the consumer to find its database away 20 times", every=0.2)
        assert dead_letter_depth(AMQP, consumer) == 0
        assert handler_failures(consumer) == 0  # not the events' fault: no attempt counted

        proxy.restore()
        wait_for(lambda: support.effects(databases["con"], consumer) == (40, 40), 60, "every event applied once")
        assert dead_letter_depth(AMQP, consumer) == 0
    finally:
        proxy.cut()
