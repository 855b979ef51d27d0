"""Retry schedule (Standard Webhooks), jitter bounds, Retry-After and giving up."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from services.notifications.domain.delivery import (
    STANDARD_WEBHOOKS_SCHEDULE,
    AttemptResult,
    AttemptStatus,
    RetryPolicy,
    next_step,
)

NOW = datetime(2025, 3, 4, 12, 0, tzinfo=UTC)


def test_schedule_is_the_standard_webhooks_one() -> None:
    hours = [delay.total_seconds() / 3600 for delay in STANDARD_WEBHOOKS_SCHEDULE]
    assert STANDARD_WEBHOOKS_SCHEDULE[:4] == (
        timedelta(0),
        timedelta(seconds=5),
        timedelta(minutes=5),
        timedelta(minutes=30),
    )
    assert hours[4:] == [2, 5, 10, 14, 20, 24]


def test_without_jitter_each_retry_waits_exactly_the_scheduled_delay() -> None:
    policy = RetryPolicy(jitter=0)
    assert policy.next_attempt_at(1, NOW) == NOW + timedelta(seconds=5)
    assert policy.next_attempt_at(3, NOW) == NOW + timedelta(minutes=30)
    assert policy.next_attempt_at(9, NOW) == NOW + timedelta(hours=24)


def test_delivery_gives_up_after_the_tenth_attempt() -> None:
    policy = RetryPolicy(jitter=0)
    assert policy.max_attempts == 10
    assert policy.next_attempt_at(10, NOW) is None


def test_jitter_stays_within_ten_percent_and_is_reproducible_with_a_seed() -> None:
    first = RetryPolicy(rng=random.Random(7))
    second = RetryPolicy(rng=random.Random(7))
    delays = [first.delay_after(n) for n in range(1, 10)]
    assert delays == [second.delay_after(n) for n in range(1, 10)]
    for n, delay in enumerate(delays, start=1):
        base = STANDARD_WEBHOOKS_SCHEDULE[n]
        assert delay is not None
        assert base * 0.9 <= delay <= base * 1.1
    assert any(delay != STANDARD_WEBHOOKS_SCHEDULE[n] for n, delay in enumerate(delays, start=1))


def test_longer_retry_after_overrides_the_schedule() -> None:
    policy = RetryPolicy(jitter=0)
    assert policy.next_attempt_at(1, NOW, retry_after=120) == NOW + timedelta(seconds=120)


def test_shorter_retry_after_does_not_shorten_the_schedule() -> None:
    policy = RetryPolicy(jitter=0)
    assert policy.next_attempt_at(3, NOW, retry_after=10) == NOW + timedelta(minutes=30)


def test_retry_after_is_capped_so_an_endpoint_cannot_park_a_delivery_forever() -> None:
    policy = RetryPolicy(jitter=0, max_retry_after=timedelta(hours=24))
    assert policy.next_attempt_at(1, NOW, retry_after=30 * 24 * 3600) == NOW + timedelta(hours=24)


def test_attempt_numbers_start_at_one() -> None:
    with pytest.raises(ValueError, match="start at 1"):
        RetryPolicy().next_attempt_at(0, NOW)


def test_retryable_result_after_the_last_attempt_becomes_failed() -> None:
    policy = RetryPolicy(jitter=0)
    step = next_step(policy, AttemptResult(AttemptStatus.RETRY, status_code=503), 10, NOW)
    assert step.status is AttemptStatus.FAILED and step.retry_at is None


def test_retryable_result_schedules_the_next_attempt() -> None:
    policy = RetryPolicy(jitter=0)
    step = next_step(policy, AttemptResult(AttemptStatus.RETRY, retry_after_seconds=600), 1, NOW)
    assert step.status is AttemptStatus.RETRY
    assert step.retry_at == NOW + timedelta(minutes=10)


def test_gone_receiver_disables_the_subscription() -> None:
    step = next_step(RetryPolicy(), AttemptResult(AttemptStatus.GONE, status_code=410), 1, NOW)
    assert step.status is AttemptStatus.GONE and step.disable_subscription
