"""Several notification instances on one database: each reminder goes out once, a lost send is retried."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

from notifications_events import appointment, consent_recorded, referral_requested
from notifications_support import manual_clock, publish, wait_for
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session
from test_notifications_people import APPOINTMENT, CHICAGO, START, planned, sms_env

from services.notifications.models import Delivery
from services.notifications.usecases.dispatch import claim_deliveries
from tests.conftest import make_token


def test_two_instances_send_each_reminder_exactly_once(notifications, make_receiver, agency, notifications_db):
    provider = make_receiver()
    provider.reply = lambda request: (201, {}, b"{}")
    first, second = notifications(**sms_env(provider)), notifications(**sms_env(provider))
    clock = manual_clock(first, second, start=START)
    events = [appointment(agency, APPOINTMENT + timedelta(minutes=n), phone=f"+1314555{n:04d}",
                          participant_first_name=f"P{n}") for n in range(20)]
    for event in events:
        publish(event)
    for event in events:
        planned(first, agency, event.data.appointment_id)
    clock.set(datetime(2031, 3, 6, 14, 30, tzinfo=CHICAGO))  # every reminder (24 h and 2 h) is due
    wait_for(lambda: len(provider.requests) >= 40, timeout=20, what="40 reminders")
    with_time = datetime.now(UTC) + timedelta(seconds=1)
    wait_for(lambda: datetime.now(UTC) > with_time, what="a moment for any duplicate to show up")
    recipients = [parse_qs(r.body.decode())["To"][0] for r in provider.requests]
    assert len(recipients) == 40 and all(recipients.count(to) == 2 for to in set(recipients))
    engine = create_engine(notifications_db)
    with Session(engine) as session:
        count = session.scalar(select(func.count()).select_from(Delivery).where(
            Delivery.agency_id == agency, Delivery.purpose == "appointment_reminder"))
    engine.dispose()
    assert count == 40


def test_a_delivery_claimed_by_an_instance_that_died_is_sent_after_its_lease(
    notifications, make_receiver, agency, notifications_db
):
    api = notifications(DIVERSION_NOTIFICATIONS_LEASE_SECONDS="60")
    clock = manual_clock(api)
    runtime_clock_start = clock.now()
    receiver = make_receiver()
    token = make_token(agency, ("partner",), org="org-a")
    assert api.post("/v1/subscriptions", token=token, json={"url": receiver.url}).status_code == 201
    api.container.stop()  # this instance only records; a "dead" one claims below
    event = referral_requested(agency, "org-a")
    engine = create_engine(notifications_db)
    with Session(engine) as session:
        from services.notifications.usecases import consents
        from services.notifications.usecases.fanout import partner_deliveries

        consent = consent_recorded(agency, "org-a").data  # the send-time check's copy (ADR 0070)
        consents.apply(session, agency, consent, consent.recorded_at)
        [made] = partner_deliveries(session, event, "org-a", runtime_clock_start)
        session.commit()
        # A dead instance claims it (lease 60 s) and never sends.
        [job] = claim_deliveries(session, runtime_clock_start, timedelta(seconds=60), 10)
        assert job.delivery_id == made.id
    engine.dispose()

    survivor = notifications(DIVERSION_NOTIFICATIONS_LEASE_SECONDS="60")
    clock = manual_clock(survivor, start=runtime_clock_start + timedelta(seconds=30))
    with_time = datetime.now(UTC) + timedelta(seconds=0.5)
    wait_for(lambda: datetime.now(UTC) > with_time, what="a few ticks inside the lease")
    assert receiver.requests == []  # still leased to the dead instance
    clock.advance(timedelta(seconds=31))
    wait_for(lambda: receiver.requests, what="the delivery after the lease ran out")
    attempts = wait_for(lambda: [a for a in survivor.get(f"/v1/deliveries/{made.id}/attempts", token=token).json()
                                 if a["outcome"] == "delivered"] and
                        survivor.get(f"/v1/deliveries/{made.id}/attempts", token=token).json(),
                        what="the attempts logged")
    assert [a["outcome"] for a in attempts] == ["lost", "delivered"]


def test_concurrent_claims_never_hand_out_one_delivery_twice(agency, notifications_db):
    engine = create_engine(notifications_db, pool_size=4)
    now = datetime.now(UTC)
    with Session(engine) as session:
        from services.notifications.usecases.fanout import new_delivery

        for n in range(30):
            session.add(new_delivery(agency=agency, channel="email", purpose="test", recipient=f"p{n}@example.org",
                                     target_key="t", trigger_id=f"claim-{agency}-{n}", trigger_type="test",
                                     body="x", now=now - timedelta(days=3650)))
        session.commit()
    # Two transactions claim at once: the first holds its row locks while the second runs.
    first, second = Session(engine), Session(engine)
    try:
        held = first.scalars(select(Delivery.id).where(Delivery.agency_id == agency)
                             .order_by(Delivery.next_attempt_at).limit(10).with_for_update(skip_locked=True)).all()
        others = claim_deliveries(second, now, timedelta(seconds=60), 100)
        first.rollback()
        mine = [job.delivery_id for job in others if job.agency == agency]
        assert len(mine) == 20 and not set(mine) & set(held)
        again = claim_deliveries(first, now, timedelta(seconds=60), 100)
        assert sorted(job.delivery_id for job in again if job.agency == agency) == sorted(held)
    finally:
        first.close()
        second.close()
        engine.dispose()
