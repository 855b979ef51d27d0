"""The outcome of one delivery attempt and what the delivery does next (retry schedule).

The schedule is the Standard Webhooks one; every channel (webhook, email, SMS, AMQP) uses it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol


class AttemptStatus(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"  # transient: try again later
    FAILED = "failed"  # permanent for this message: do not retry
    GONE = "gone"  # the receiver is gone for good (HTTP 410, unsubscribed number): disable the subscription


@dataclass(frozen=True)
class AttemptResult:
    status: AttemptStatus
    status_code: int | None = None  # HTTP status or SMTP reply code when there was one
    latency_ms: float | None = None
    error: str | None = None  # short, safe to log: never the message body or a secret
    retry_after_seconds: float | None = None  # what the receiver asked for, if anything

    @property
    def ok(self) -> bool:
        return self.status is AttemptStatus.DELIVERED


# Delay before attempt n+1 (index n-1 is "before attempt n"): immediately, 5 s, 5 min, 30 min, 2 h,
# 5 h, 10 h, 14 h, 20 h, 24 h. Ten attempts over about three days, then give up.
STANDARD_WEBHOOKS_SCHEDULE: tuple[timedelta, ...] = (
    timedelta(0),
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=14),
    timedelta(hours=20),
    timedelta(hours=24),
)


class UniformSource(Protocol):
    def uniform(self, a: float, b: float) -> float: ...


class RetryPolicy:
    """When to try again after a failed attempt, or None to give up.

    Jitter spreads retries so a partner that comes back is not hit by every queued delivery at
    once; it is bounded (default ±10%) and drawn from an injectable source so tests are exact.
    A receiver's Retry-After wins when it asks for longer than the schedule, capped at
    `max_retry_after` so one endpoint cannot park a delivery indefinitely.
    """

    def __init__(
        self,
        schedule: tuple[timedelta, ...] = STANDARD_WEBHOOKS_SCHEDULE,
        jitter: float = 0.1,
        rng: UniformSource | None = None,
        max_retry_after: timedelta = timedelta(hours=24),
    ) -> None:
        if not schedule:
            raise ValueError("a retry schedule needs at least one attempt")
        if not 0 <= jitter < 1:
            raise ValueError("jitter must be in [0, 1)")
        self.schedule = schedule
        self.jitter = jitter
        self.rng: UniformSource = rng if rng is not None else random.Random()
        self.max_retry_after = max_retry_after

    @property
    def max_attempts(self) -> int:
        return len(self.schedule)

    def delay_after(self, attempt_number: int, retry_after: float | None = None) -> timedelta | None:
        """Delay between failed attempt `attempt_number` (1 = the first) and the next one."""
        if attempt_number < 1:
            raise ValueError("attempt numbers start at 1")
        if attempt_number >= len(self.schedule):
            return None
        base = self.schedule[attempt_number]
        delay = base * (1 + self.rng.uniform(-self.jitter, self.jitter)) if self.jitter else base
        if retry_after is not None and retry_after > 0:
            asked = min(timedelta(seconds=retry_after), self.max_retry_after)
            delay = max(delay, asked)
        return delay

    def next_attempt_at(
        self, attempt_number: int, now: datetime, retry_after: float | None = None
    ) -> datetime | None:
        """Time of the attempt after failed attempt `attempt_number`; None means give up (failed)."""
        delay = self.delay_after(attempt_number, retry_after)
        return None if delay is None else now + delay


@dataclass(frozen=True)
class NextStep:
    """What the caller records after an attempt."""

    status: AttemptStatus  # final status, or RETRY with `retry_at` set
    retry_at: datetime | None = None
    disable_subscription: bool = False


def next_step(policy: RetryPolicy, result: AttemptResult, attempt_number: int, now: datetime) -> NextStep:
    """Turn an attempt's result into the delivery's next state."""
    if result.status is AttemptStatus.RETRY:
        at = policy.next_attempt_at(attempt_number, now, result.retry_after_seconds)
        if at is None:
            return NextStep(AttemptStatus.FAILED)
        return NextStep(AttemptStatus.RETRY, retry_at=at)
    return NextStep(result.status, disable_subscription=result.status is AttemptStatus.GONE)
