"""A notifications instance that stops beating: a live peer sends what it had claimed within seconds, not
after the lease, with the same webhook-id, and counts each as re-sent."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

from notifications_events import referral_requested
from notifications_support import Received, Reply, publish_many, runtime_of, wait_for
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from services.notifications.instances import beat, join
from services.notifications.models import Delivery, DeliveryAttempt, InstanceHeartbeat
from tests.conftest import make_token

FAST_BEATS = {
    "DIVERSION_NOTIFICATIONS_HEARTBEAT_INTERVAL_SECONDS": "0.2",
    "DIVERSION_NOTIFICATIONS_INSTANCE_TIMEOUT_SECONDS": "1.5",
    # Far beyond the test: only the heartbeat can explain a takeover.
    "DIVERSION_NOTIFICATIONS_LEASE_SECONDS": "3600",
    "DIVERSION_NOTIFICATIONS_WEBHOOK_TIMEOUT_SECONDS": "60",
}


def resent(api, reason: str) -> float:
    for line in api.get("/metrics").text.splitlines():
        if line.startswith(f'diversion_notifications_deliveries_resent_total{{reason="{reason}"}}'):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError("no deliveries_resent_total metric")


def test_a_live_peer_sends_what_a_dead_instance_had_claimed_within_seconds(
    notifications, make_receiver, agency, notifications_db
):
    gate = threading.Event()
    receiver = make_receiver()

    def held_then_ok(request: Received) -> Reply:
        gate.wait(60)  # the first instance's sends stay in flight until it has died
        return 200, {}, b"ok"

    receiver.reply = held_then_ok
    doomed = notifications(**FAST_BEATS)
    token = make_token(agency, ("partner",), org="org-a")
    assert doomed.post("/v1/subscriptions", token=token, json={"url": receiver.url}).status_code == 201
    publish_many([referral_requested(agency, "org-a") for _ in range(10)])
    doomed_id = runtime_of(doomed).instance_id

    engine = create_engine(notifications_db)

    def claimed_by(instance: str) -> list[str]:
        with Session(engine) as session:
            return list(session.scalars(select(Delivery.id).where(
                Delivery.status == "sending", Delivery.claimed_by == instance)).all())

    held = wait_for(lambda: len(receiver.requests) == 10 and len(claimed_by(doomed_id)) == 10 and claimed_by(doomed_id),
                    timeout=30, what="10 sends in flight from the first instance")

    survivor = notifications(**FAST_BEATS)
    survivor_id = runtime_of(survivor).instance_id

    def beating_for(instance: str) -> timedelta:
        with Session(engine) as session:
            row = session.get(InstanceHeartbeat, instance)
            return timedelta(0) if row is None else row.beat_at - row.started_at

    # While the first instance beats, its claims are its own, however long the survivor watches.
    wait_for(lambda: beating_for(survivor_id) > timedelta(seconds=3), timeout=30,
             what="the survivor to beat for twice the timeout")
    assert sorted(claimed_by(doomed_id)) == sorted(held)

    doomed.container.kill()  # a crash: no clean stop, its heartbeat row stays behind
    killed_at = datetime.now(UTC)
    receiver.reply = lambda request: (200, {}, b"ok")
    gate.set()

    def delivered() -> list[Delivery]:
        with Session(engine) as session:
            rows = session.scalars(select(Delivery).where(Delivery.id.in_(held))).all()
            return list(rows) if all(row.status == "delivered" for row in rows) else []

    rows = wait_for(delivered, timeout=30, what="every held delivery sent by the survivor")
    took = max(row.delivered_at for row in rows) - killed_at
    assert took < timedelta(seconds=15), took  # the lease is an hour
    with Session(engine) as session:
        assert session.get(InstanceHeartbeat, doomed_id) is None
        assert session.get(InstanceHeartbeat, survivor_id) is not None
        outcomes = {d: [a.outcome for a in session.scalars(select(DeliveryAttempt).where(
            DeliveryAttempt.delivery_id == d).order_by(DeliveryAttempt.attempt_number, DeliveryAttempt.id)).all()]
            for d in held}
    engine.dispose()
    assert all(o == ["lost", "delivered"] for o in outcomes.values()), outcomes
    ids = Counter(request.headers["webhook-id"] for request in receiver.requests)
    assert set(ids) == set(held) and all(n == 2 for n in ids.values())  # the receiver deduplicates these
    assert resent(survivor, "instance_stopped") == 10
    assert resent(survivor, "lease_expired") == 0


def test_each_delivery_of_a_dead_peer_is_put_back_once_however_many_instances_sweep(agency, notifications_db):
    from services.notifications.usecases.dispatch import claim_deliveries
    from services.notifications.usecases.fanout import new_delivery

    engine = create_engine(notifications_db)
    long_ago = datetime.now(UTC) - timedelta(days=3650)
    with Session(engine) as session:
        for n in range(20):
            session.add(new_delivery(agency=agency, channel="email", purpose="test", recipient=f"p{n}@example.org",
                                     target_key="t", trigger_id=f"sweep-{agency}-{n}", trigger_type="test",
                                     body="x", now=long_ago))
        session.commit()
        join(session, "dead-one")
        jobs = claim_deliveries(session, datetime.now(UTC), timedelta(hours=1), 20, instance="dead-one")
        assert len(jobs) == 20
        join(session, "live-a")
        join(session, "live-b")
    # Nobody is silent yet: nothing moves.
    with Session(engine) as session:
        assert beat(session, "live-a", timedelta(seconds=60), datetime.now(UTC)).taken_over == ()
    # "dead-one" is silent for longer than a one-second timeout, and both live instances sweep.
    wait_for(lambda: datetime.now(UTC) - jobs_claimed_at(engine, "dead-one") > timedelta(seconds=1.2),
             what="the dead instance to be silent for the timeout")
    with Session(engine) as a, Session(engine) as b:
        beat(b, "live-b", timedelta(seconds=60), datetime.now(UTC))  # live-b is not silent
        first = beat(a, "live-a", timedelta(seconds=1), datetime.now(UTC))
        second = beat(b, "live-b", timedelta(seconds=1), datetime.now(UTC))
    assert first.dead == ("dead-one",) and len(first.taken_over) == 20
    assert second.taken_over == ()
    with Session(engine) as session:
        statuses = Counter(session.scalars(select(Delivery.status).where(Delivery.agency_id == agency)).all())
        lost = session.scalars(select(DeliveryAttempt.delivery_id).where(DeliveryAttempt.outcome == "lost")).all()
        again = claim_deliveries(session, datetime.now(UTC), timedelta(hours=1), 100, instance="live-b")
    engine.dispose()
    assert statuses == {"pending": 20}
    assert sorted(lost) == sorted(job.delivery_id for job in jobs)  # one lost try each, not two
    assert sorted(job.delivery_id for job in again if job.agency == agency) == sorted(lost)


def jobs_claimed_at(engine, instance: str) -> datetime:
    with Session(engine) as session:
        row = session.get(InstanceHeartbeat, instance)
        assert row is not None
        return row.beat_at
