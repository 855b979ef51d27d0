"""Recording a batch of attempts (SQLite here; PostgreSQL in the integration tests): the delivered ones in
one statement, the others row by row, and a delivery another instance took over left alone."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from services.notifications.channels.base import AttemptResult, AttemptStatus, Message
from services.notifications.domain.delivery import RetryPolicy
from services.notifications.models import Base, Delivery, DeliveryAttempt
from services.notifications.usecases.dispatch import Job, Outcome, record_outcomes
from services.notifications.usecases.fanout import new_delivery

NOW = datetime(2030, 3, 4, 12, 0, tzinfo=UTC)


def sending(session: Session, attempts: int = 1) -> Delivery:
    delivery = new_delivery(agency="stl-cao", channel="webhook", purpose="partner_event", recipient="https://x.example",
                            target_key="sub:1", trigger_id=f"evt-{uuid.uuid4().hex}",
                            trigger_type="t", body="{}", now=NOW - timedelta(seconds=5))
    delivery.status, delivery.attempts, delivery.round_attempts = "sending", attempts, attempts
    delivery.lease_until = NOW + timedelta(minutes=2)
    session.add(delivery)
    session.flush()
    return delivery


def outcome(delivery: Delivery, result: AttemptResult, attempt: int | None = None, at: datetime = NOW) -> Outcome:
    number = attempt if attempt is not None else delivery.attempts
    message = Message(id=delivery.id, recipient=delivery.recipient, body=delivery.body)
    job = Job(delivery_id=delivery.id, agency=delivery.agency_id, channel="webhook", attempt=number,
              round_attempt=number, subscription_id=None, trigger_event_id=delivery.trigger_event_id,
              trigger_event_type="t", message=message)
    return Outcome(job, result, at)


def test_a_batch_of_outcomes_moves_each_delivery_on_and_leaves_a_taken_over_one_alone() -> None:
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine, expire_on_commit=False) as session:
        first, second, retried, taken_over = sending(session), sending(session), sending(session), sending(session, 2)
        session.commit()
        ok = AttemptResult(AttemptStatus.DELIVERED, status_code=200, latency_ms=3.0)
        record_outcomes(session, [
            outcome(first, ok, at=NOW),
            outcome(second, ok, at=NOW + timedelta(seconds=1)),
            outcome(retried, AttemptResult(AttemptStatus.RETRY, status_code=503, error="receiver answered 503")),
            outcome(taken_over, ok, attempt=1),  # its lease ran out; another instance's attempt 2 is in flight
        ], RetryPolicy(jitter=0))
        session.expire_all()
        rows = {row.id: row for row in session.scalars(select(Delivery)).all()}

        assert (rows[first.id].status, rows[first.id].last_status_code) == ("delivered", 200)
        assert rows[first.id].delivered_at == rows[first.id].updated_at == NOW
        assert rows[second.id].delivered_at == NOW + timedelta(seconds=1)
        assert rows[first.id].lease_until is None and rows[first.id].version == 2
        assert rows[retried.id].status == "pending" and rows[retried.id].last_error == "receiver answered 503"
        assert rows[retried.id].next_attempt_at is not None and rows[retried.id].delivered_at is None
        assert (rows[taken_over.id].status, rows[taken_over.id].version) == ("sending", 1)
        logged = session.scalars(select(DeliveryAttempt.outcome).order_by(DeliveryAttempt.id)).all()
        assert logged == ["delivered", "delivered", "retry", "delivered"]  # every attempt is logged
    engine.dispose()
