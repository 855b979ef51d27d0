"""Issue 16 item 3 for notifications (ADR 0082): with a controlled clock the purge deletes exactly the rows past
retention: finished deliveries past `delivery.log` (delivered, failed, cancelled, withheld; a pending one of the
same age stays) with their attempts, attempts past `delivery.attempt`, ended consents past `consent.ended` (a
valid one stays), finished reminders of past appointments past `reminder.finished` and the appointments'
version records left without a reminder; the counts go to the audit trail without any personal data."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from services.notifications.models import AppointmentState, Delivery, DeliveryAttempt, PartnerConsent, Reminder
from shared.upkeep import purge
from tests.support.databases import migrated, row_counts

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)  # the controlled clock (the audit trigger allows no future)
AGENCY = "t-notif-purge"  # no pack of its own: delivery.log 180, delivery.attempt 90, consent.ended 365,
# reminder.finished 180 days
TABLES = ("delivery", "delivery_attempt", "partner_consent", "reminder", "appointment_state")


@pytest.fixture
def notifications_db() -> Iterator[Engine]:
    with migrated("notifications", "delivery_purge") as engine:
        yield engine


def _ago(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


def _delivery(session: Session, status: str, age_days: float, *attempt_ages: float) -> str:
    delivery_id = f"dlv-{uuid.uuid4().hex[:12]}"
    session.add(Delivery(
        id=delivery_id, agency_id=AGENCY, channel="sms", purpose="appointment_reminder", recipient="+13145550100",
        target_key=f"sms:{delivery_id}", trigger_event_id=f"evt-{delivery_id}", trigger_event_type="reminder",
        case_id="case-1", body="Hello Jane, your appointment is tomorrow", status=status,
        created_at=_ago(age_days + 1), updated_at=_ago(age_days)))
    session.flush()
    for number, age in enumerate(attempt_ages, start=1):
        session.add(DeliveryAttempt(delivery_id=delivery_id, attempt_number=number, attempted_at=_ago(age),
                                    outcome="retry", error="receiver said: Jane Example unknown"))
    return delivery_id


def _consent(session: Session, age_days: float, *, revoked: bool = False, expired: bool = False) -> str:
    consent_id = f"con-{uuid.uuid4().hex[:12]}"
    session.add(PartnerConsent(
        consent_id=consent_id, agency_id=AGENCY, participant_id="p-1", person_id="person-jane",
        recipient_org_id="org-1", categories=["contact_info"], purposes=["service_referral"],
        valid=not (revoked or expired), effective_on=dt.date(2020, 1, 1),
        revoked_on=_ago(age_days).date() if revoked else None, expired=expired, changed_at=_ago(age_days)))
    return consent_id


def _reminder(session: Session, appointment: str, status: str, age_days: float, *, appointment_in_days: float = -1,
              offset: int = 1440) -> str:
    reminder_id = f"rem-{uuid.uuid4().hex[:12]}"
    at = NOW + dt.timedelta(days=appointment_in_days)
    session.add(Reminder(
        id=reminder_id, agency_id=AGENCY, appointment_id=appointment, case_id="case-1", offset_minutes=offset,
        send_at=at - dt.timedelta(minutes=offset), appointment_at=at, location="21 Market St, room 4",
        status=status, created_at=_ago(age_days + 1), updated_at=_ago(age_days)))
    return reminder_id


def _state(session: Session, appointment: str, age_days: float) -> None:
    session.add(AppointmentState(agency_id=AGENCY, appointment_id=appointment, version=2, status="scheduled",
                                 updated_at=_ago(age_days)))


def _counts(engine: Engine) -> dict[str, int]:
    return row_counts(engine, Delivery.metadata, TABLES)


def _kept(engine: Engine) -> dict[str, set[Any]]:
    with engine.connect() as conn:
        return {"delivery": set(conn.scalars(select(Delivery.id))),
                "delivery_attempt": set(conn.execute(select(DeliveryAttempt.delivery_id,
                                                            DeliveryAttempt.attempt_number)).tuples()),
                "partner_consent": set(conn.scalars(select(PartnerConsent.consent_id))),
                "reminder": set(conn.scalars(select(Reminder.id))),
                "appointment_state": set(conn.scalars(select(AppointmentState.appointment_id)))}


def test_deliveries_consents_and_reminders_past_retention_go_and_nothing_else(notifications_db: Engine) -> None:
    with Session(notifications_db) as session:
        # delivery.log (180 days): the four finished statuses go with their attempts
        for status in ("delivered", "failed", "cancelled", "withheld"):
            _delivery(session, status, 181, 100)
        pending = _delivery(session, "pending", 181, 100, 10)  # stays; its 100-day attempt goes (delivery.attempt)
        young = _delivery(session, "delivered", 179, 89)  # stays, with its attempt
        # consent.ended (365 days)
        _consent(session, 366, revoked=True)
        _consent(session, 366, expired=True)
        valid = _consent(session, 3000)
        young_revoked = _consent(session, 364, revoked=True)
        # reminder.finished (180 days); appointments a1 (past, all finished: goes with its state) to a6
        for offset, status in ((1440, "queued"), (120, "skipped"), (60, "cancelled")):
            _reminder(session, "a1", status, 181, offset=offset)
        _state(session, "a1", 181)
        kept_reminders = {
            _reminder(session, "a2", "scheduled", 181, appointment_in_days=3),  # still to be sent
            _reminder(session, "a3", "cancelled", 181, appointment_in_days=3),  # its appointment is to come
            _reminder(session, "a4", "skipped", 179),  # young
        }
        for appointment in ("a2", "a3", "a4"):
            _state(session, appointment, 181)  # kept: a reminder of the appointment stays
        _state(session, "a5", 179)  # young, no reminder
        _state(session, "a6", 181)  # no reminder left, as old: goes
        session.commit()
    before = _counts(notifications_db)
    assert before == {"delivery": 6, "delivery_attempt": 7, "partner_consent": 4, "reminder": 6,
                      "appointment_state": 6}

    dry = purge(notifications_db, "notifications", NOW, dry_run=True)
    assert dry.counts["delivery.log"] == {"delivery": 4}
    assert dry.counts["consent.ended"] == {"partner_consent": 2}
    assert dry.counts["reminder.finished"] == {"reminder": 3, "appointment_state": 2}
    assert _counts(notifications_db) == before  # a dry run deletes nothing

    report = purge(notifications_db, "notifications", NOW)
    assert report.counts["delivery.log"] == {"delivery": 4}
    assert report.counts["delivery.attempt"] == {"delivery_attempt": 1}  # the others went with their delivery
    assert report.counts["consent.ended"] == {"partner_consent": 2}
    assert report.counts["reminder.finished"] == {"reminder": 3, "appointment_state": 2}
    assert report.total() == 12  # nothing else in this database is past retention
    after = _counts(notifications_db)
    assert {name: before[name] - after[name] for name in TABLES} == {
        "delivery": 4, "delivery_attempt": 5, "partner_consent": 2, "reminder": 3, "appointment_state": 2}
    assert _kept(notifications_db) == {
        "delivery": {pending, young}, "delivery_attempt": {(pending, 2), (young, 1)},
        "partner_consent": {valid, young_revoked}, "reminder": kept_reminders,
        "appointment_state": {"a2", "a3", "a4", "a5"}}

    with notifications_db.connect() as conn:
        audit = Delivery.metadata.tables["audit_event"]
        rows = conn.execute(select(audit.c.agency_id, audit.c.detail).where(audit.c.action == "records.purged")).all()
    details: list[Any] = [row.detail if isinstance(row.detail, dict) else json.loads(row.detail) for row in rows]
    assert [row.agency_id for row in rows] == [None]  # the agency has no pack of its own
    assert {k: details[0]["counts"][k] for k in ("delivery.log", "delivery.attempt", "consent.ended",
                                                  "reminder.finished")} == {
        "delivery.log": 4, "delivery.attempt": 1, "consent.ended": 2, "reminder.finished": 5}
    text = json.dumps(details)
    assert "Jane" not in text and "Market" not in text and "+1314" not in text and "person-jane" not in text

    again = purge(notifications_db, "notifications", NOW)  # nothing left past retention
    assert again.total() == 0 and _counts(notifications_db) == after
