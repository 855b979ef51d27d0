"""The embedded default: publisher and consumer on SQLite files, one process each, same guarantees."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import messaging_support as support
import pytest
from nameko.testing.services import entrypoint_hook
from sqlalchemy import create_engine

from conftest import AMQP, wait_for
from shared.messaging import outbox_backlog


@pytest.mark.sqlite
def test_events_flow_from_outbox_to_inbox_on_sqlite(names: Any, tmp_path: Path, container_factory: Any) -> None:
    publisher, consumer = names("pub"), names("con")
    pub_url, con_url = f"sqlite:///{tmp_path / 'pub.db'}", f"sqlite:///{tmp_path / 'con.db'}"
    support.create_tables(pub_url, support.PublisherBase)
    support.create_tables(con_url, support.ConsumerBase)
    consumers = container_factory(support.make_consumer(consumer, publisher), support.config(AMQP, con_url))
    consumers.start()
    publishers = container_factory(support.make_publisher(publisher), support.config(AMQP, pub_url))
    publishers.start()

    with entrypoint_hook(publishers, "open_cases") as open_cases:
        assert open_cases(0, 10) == 10
        assert open_cases(10, 10) == 10
    wait_for(lambda: support.effects(con_url, consumer) == (20, 20), 30, "20 cases handled")
    engine = create_engine(pub_url)
    wait_for(lambda: outbox_backlog(engine) == 0, 10, "outbox drained")
    engine.dispose()
