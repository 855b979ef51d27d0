"""Webhook channel against a real HTTP receiver on 127.0.0.1 (allow-listed for these tests)."""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from services.notifications.channels import AttemptStatus, Message
from services.notifications.channels.signing import generate_secret
from services.notifications.channels.webhook import MAX_ANSWER_BYTES, WebhookChannel
from services.notifications.domain.clock import ManualClock
from services.notifications.domain.delivery import RetryPolicy, next_step

from .conftest import Receiver

BODY = json.dumps({"type": "org.diversion.resources.service_referral.requested", "data": {"id": "sr_9"}})


def webhook(timeout: float = 2.0, clock: ManualClock | None = None) -> WebhookChannel:
    return WebhookChannel(allow_list=["127.0.0.1"], timeout_seconds=timeout, clock=clock)


def message(url: str, *secrets: str) -> Message:
    return Message(
        id=f"msg_{uuid.uuid4().hex}", recipient=url, body=BODY, secrets=secrets or (generate_secret(),)
    )


def test_2xx_is_delivered_and_the_receiver_can_verify_the_signature(receiver: Receiver) -> None:
    secret = generate_secret()
    result = webhook().send(message(receiver.url + "/hooks", secret))
    assert result.status is AttemptStatus.DELIVERED and result.status_code == 200
    assert result.latency_ms is not None and result.latency_ms > 0
    [request] = receiver.requests
    assert request.path == "/hooks"
    assert request.headers["content-type"] == "application/cloudevents+json; charset=utf-8"
    assert Webhook(secret).verify(request.body, request.headers)["data"]["id"] == "sr_9"


def test_receiver_rejects_a_tampered_body(receiver: Receiver) -> None:
    secret = generate_secret()
    webhook().send(message(receiver.url, secret))
    [request] = receiver.requests
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(request.body.replace(b"sr_9", b"sr_1"), request.headers)


def test_a_signature_made_six_minutes_ago_is_rejected_by_the_receiver(receiver: Receiver) -> None:
    secret = generate_secret()
    clock = ManualClock(datetime.now(UTC) - timedelta(minutes=6))
    webhook(clock=clock).send(message(receiver.url, secret))
    [request] = receiver.requests
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(secret).verify(request.body, request.headers)


def test_during_secret_rotation_the_receiver_accepts_either_secret(receiver: Receiver) -> None:
    old, new = generate_secret(), generate_secret()
    webhook().send(message(receiver.url, new, old))
    [request] = receiver.requests
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(request.body, request.headers)
    Webhook(new).verify(request.body, request.headers)


def test_webhook_id_is_the_same_on_every_retry(receiver: Receiver) -> None:
    receiver.reply = lambda request: (503, {}, b"")
    channel = webhook()
    msg = message(receiver.url)
    channel.send(msg)
    channel.send(msg)
    assert receiver.requests[0].headers["webhook-id"] == receiver.requests[1].headers["webhook-id"] == msg.id


def test_410_means_gone(receiver: Receiver) -> None:
    receiver.reply = lambda request: (410, {}, b"")
    result = webhook().send(message(receiver.url))
    assert result.status is AttemptStatus.GONE and result.status_code == 410


def test_redirect_is_not_followed_and_fails(receiver: Receiver) -> None:
    receiver.reply = lambda request: (302, {"location": receiver.url + "/elsewhere"}, b"")
    result = webhook().send(message(receiver.url + "/hooks"))
    assert result.status is AttemptStatus.FAILED and result.status_code == 302
    assert [request.path for request in receiver.requests] == ["/hooks"]


def test_503_with_retry_after_asks_for_a_retry_after_that_delay(receiver: Receiver) -> None:
    receiver.reply = lambda request: (503, {"retry-after": "120"}, b"")
    result = webhook().send(message(receiver.url))
    assert result.status is AttemptStatus.RETRY and result.retry_after_seconds == 120
    now = datetime(2025, 3, 4, 12, tzinfo=UTC)
    step = next_step(RetryPolicy(jitter=0), result, attempt_number=1, now=now)
    assert step.retry_at == now + timedelta(seconds=120)


def test_retry_after_as_an_http_date_is_honoured(receiver: Receiver) -> None:
    clock = ManualClock(datetime(2025, 3, 4, 12, 0, tzinfo=UTC))
    receiver.reply = lambda request: (429, {"retry-after": "Tue, 04 Mar 2025 12:10:00 GMT"}, b"")
    result = webhook(clock=clock).send(message(receiver.url))
    assert result.status is AttemptStatus.RETRY and result.retry_after_seconds == 600


def test_client_error_other_than_408_or_429_fails(receiver: Receiver) -> None:
    receiver.reply = lambda request: (400, {}, b"bad")
    assert webhook().send(message(receiver.url)).status is AttemptStatus.FAILED


def test_timeout_asks_for_a_retry(receiver: Receiver) -> None:
    receiver.reply = receiver.hang
    result = webhook(timeout=0.3).send(message(receiver.url))
    assert result.status is AttemptStatus.RETRY and "timed out" in (result.error or "")


def test_closed_port_asks_for_a_retry(receiver: Receiver) -> None:
    result = webhook().send(message("http://127.0.0.1:1/hooks"))
    assert result.status is AttemptStatus.RETRY


def test_internal_target_is_refused_at_send_time_without_a_request(receiver: Receiver) -> None:
    result = WebhookChannel().send(message(receiver.url))
    assert result.status is AttemptStatus.FAILED and "loopback" in (result.error or "")
    assert receiver.requests == []


def test_endpoint_down_for_three_attempts_is_delivered_on_the_fourth_at_the_scheduled_time(
    receiver: Receiver,
) -> None:
    receiver.reply = lambda request: (503, {}, b"") if len(receiver.requests) <= 3 else (200, {}, b"ok")
    start = datetime(2025, 3, 4, 12, 0, tzinfo=UTC)
    clock = ManualClock(start)
    policy = RetryPolicy(rng=random.Random(42))
    channel = webhook(clock=clock)
    msg = message(receiver.url)

    expected = random.Random(42)
    expected_at = start
    for attempt in (1, 2, 3):
        result = channel.send(msg)
        assert result.status is AttemptStatus.RETRY
        step = next_step(policy, result, attempt, clock.now())
        base = policy.schedule[attempt]
        expected_at += base * (1 + expected.uniform(-0.1, 0.1))
        assert step.retry_at == expected_at
        clock.set(step.retry_at)

    final = channel.send(msg)
    assert final.status is AttemptStatus.DELIVERED
    assert len(receiver.requests) == 4
    stamps = [int(request.headers["webhook-timestamp"]) for request in receiver.requests]
    assert stamps[-1] == int(expected_at.timestamp())
    # About 5 s + 5 min + 30 min after the first attempt, within the ±10 % jitter.
    assert timedelta(minutes=31.5) <= expected_at - start <= timedelta(minutes=38.6)


def test_deliveries_to_one_receiver_reuse_one_kept_alive_connection(receiver: Receiver) -> None:
    channel = webhook()
    results = [channel.send(message(receiver.url + "/hooks")) for _ in range(3)]
    assert [result.status for result in results] == [AttemptStatus.DELIVERED] * 3
    assert len({request.peer for request in receiver.requests}) == 1


def test_a_long_answer_is_cut_off_with_its_connection_and_the_delivery_still_counts(receiver: Receiver) -> None:
    receiver.reply = lambda request: (200, {}, b"x" * (MAX_ANSWER_BYTES + 1))
    channel = webhook()
    results = [channel.send(message(receiver.url + "/hooks")) for _ in range(2)]
    assert [result.status for result in results] == [AttemptStatus.DELIVERED] * 2
    assert len({request.peer for request in receiver.requests}) == 2  # the first connection was not reused
