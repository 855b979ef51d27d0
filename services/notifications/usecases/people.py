"""Staff contacts, participants' contact preferences, SMS opt-outs (STOP / START) and appointment reminders."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.notifications.domain.preferences import SmsKeyword
from services.notifications.models import ContactPreference, Reminder, SmsOptOut, StaffContact
from services.notifications.schemas import ContactPreferenceIn, StaffContactIn
from services.notifications.usecases.fanout import lock_staff
from shared.http import Call, NotFound
from shared.http.concurrency import etag, require_if_match


def put_staff_contact(session: Session, call: Call, staff_id: str, body: StaffContactIn,
                      now: dt.datetime) -> tuple[StaffContact, bool]:
    """Create or change (If-Match) where a staff member gets notices; whether it was created."""
    lock_staff(session, call.agency, [staff_id])
    statement = select(StaffContact).where(
        StaffContact.agency_id == call.agency, StaffContact.staff_id == staff_id).with_for_update()
    row = session.scalars(statement).first()
    created = row is None
    if row is None:
        try:  # casework's staff.registered may create the same contact at this moment
            with session.begin_nested():
                row = StaffContact(agency_id=call.agency, staff_id=staff_id, version=1, email=str(body.email),
                                   name=body.name, topics=[], active=body.active, updated_at=now)
                session.add(row)
        except IntegrityError:
            row, created = session.scalars(statement).one(), False
    if not created:
        require_if_match(call, etag(staff_id, row.version))
        row.version += 1
    row.email, row.name, row.language = str(body.email), body.name, body.language
    row.topics, row.active, row.updated_at = list(body.topics), body.active, now
    return row, created


def get_staff_contact(session: Session, agency: str, staff_id: str) -> StaffContact:
    row = session.scalars(select(StaffContact).where(
        StaffContact.agency_id == agency, StaffContact.staff_id == staff_id)).first()
    if row is None:
        raise NotFound(f"no staff contact {staff_id}")
    return row


def list_staff_contacts(session: Session, agency: str) -> list[StaffContact]:
    return list(session.scalars(select(StaffContact).where(StaffContact.agency_id == agency)
                                .order_by(StaffContact.staff_id).limit(1000)).all())


def sms_opted_out(session: Session, row: ContactPreference) -> bool:
    """Whether the participant's phone number answered STOP (and not START since)."""
    return bool(row.phone and (found := session.get(SmsOptOut, row.phone)) is not None and found.opted_out)


def get_contact_preference(session: Session, agency: str, case_id: str) -> ContactPreference:
    row = session.scalars(select(ContactPreference).where(
        ContactPreference.agency_id == agency, ContactPreference.case_id == case_id)).first()
    if row is None:
        raise NotFound(f"no contact preferences for case {case_id}")
    return row


def put_contact_preference(session: Session, call: Call, case_id: str, body: ContactPreferenceIn,
                           now: dt.datetime) -> tuple[ContactPreference, bool]:
    """Set channel, language or do-not-contact (If-Match when they exist); whether they were created."""
    row = session.scalars(select(ContactPreference).where(
        ContactPreference.agency_id == call.agency, ContactPreference.case_id == case_id
    ).with_for_update()).first()
    created = row is None
    if row is None:
        row = ContactPreference(agency_id=call.agency, case_id=case_id, version=1)
        session.add(row)
    else:
        require_if_match(call, etag(case_id, row.version))
        row.version += 1
    row.channel, row.do_not_contact, row.updated_at = body.channel, body.do_not_contact, now
    if body.language:
        row.language, row.language_set_by_staff = body.language, True
    return row, created


def record_sms_keyword(session: Session, phone: str, keyword: SmsKeyword, text: str, now: dt.datetime) -> None:
    """STOP opts the number out of SMS, START back in (whichever came last counts)."""
    row = session.get(SmsOptOut, phone, with_for_update=True)
    if row is None:
        row = SmsOptOut(phone=phone)
        session.add(row)
    row.opted_out, row.changed_at = keyword is SmsKeyword.OPT_OUT, now
    row.keyword = text.strip().upper()[:20]


def reminders_of(session: Session, agency: str, appointment_id: str) -> list[Reminder]:
    rows = session.scalars(select(Reminder).where(
        Reminder.agency_id == agency, Reminder.appointment_id == appointment_id
    ).order_by(Reminder.send_at)).all()
    if not rows:
        raise NotFound(f"no reminders for appointment {appointment_id}")
    return list(rows)
