"""A service stopped while its queue consumer is still starting stops cleanly (nameko would re-send one event
per stopping provider, raise on the second and hang the stop until its timeout)."""

from __future__ import annotations

import time

import eventlet
import pytest

from shared.messaging import consumer
from shared.messaging.consumer import ReliableQueueConsumer


def test_providers_stopping_before_the_consumer_started_release_it_once_without_raising(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(consumer, "STARTING_WAIT_SECONDS", 0.05)
    queue_consumer = ReliableQueueConsumer()
    started = time.monotonic()
    stops = [eventlet.spawn(queue_consumer.unregister_provider, object()) for _ in range(3)]
    for stop in stops:
        stop.wait()  # nameko's own unregister_provider raises "re-send() an already-triggered event" here
    assert queue_consumer._last_provider_unregistered.ready()
    assert time.monotonic() - started >= 0.05  # it waited for the start before giving up on it


def test_a_consumer_that_finishes_starting_meanwhile_is_released_the_usual_way(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(consumer, "STARTING_WAIT_SECONDS", 5.0)
    queue_consumer = ReliableQueueConsumer()
    usual: list[object] = []
    monkeypatch.setattr(consumer.QueueConsumer, "unregister_provider", lambda self, provider: usual.append(provider))
    provider = object()
    stop = eventlet.spawn(queue_consumer.unregister_provider, provider)
    eventlet.sleep(0.01)
    assert usual == []  # still waiting for the start
    queue_consumer._consumers_ready.send(None)
    stop.wait()
    assert usual == [provider]
