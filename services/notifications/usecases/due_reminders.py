"""Due appointment reminders become deliveries, each exactly once (the worker's first step, before claiming).

A reminder planned by `domain.reminders` waits as a `scheduled` row; when its time comes it is checked again
(started already, quiet hours, contact details, opt-out) and either queued as one delivery or skipped with the
reason. Claiming and sending are `dispatch`'s.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.notifications.domain.phone import InvalidPhoneNumber, normalize_phone
from services.notifications.domain.preferences import ContactPreferences, choose_language, should_send
from services.notifications.domain.reminders import ReminderPolicy, quiet_period
from services.notifications.domain.routing import choose_reminder_channel
from services.notifications.models import ContactPreference, Delivery, Reminder, SmsOptOut
from services.notifications.templates import TemplateInvalid, TemplateMissing, TemplateRefused
from services.notifications.usecases.fanout import RendererFor, new_delivery

log = logging.getLogger(__name__)


def queue_due_reminders(
    session: Session, now: datetime, policy: ReminderPolicy, renderer_for: RendererFor, limit: int,
    sender_name: str, default_country_code: str = "1",
    withheld: Callable[[str | None, str], None] | None = None,
) -> int:
    """Turn due reminders into deliveries, each exactly once (claim, decide, insert, mark: one transaction).

    `withheld(channel, reason)` hears, once committed, of each reminder skipped on purpose.
    """
    rows = session.scalars(
        select(Reminder).where(Reminder.status == "scheduled", Reminder.send_at <= now)
        .order_by(Reminder.send_at).limit(limit).with_for_update(skip_locked=True)
    ).all()
    queued = 0
    skipped: list[tuple[str | None, str]] = []
    for reminder in rows:
        decision = _reminder_decision(session, reminder, now, policy, default_country_code)
        if isinstance(decision, str):
            reminder.status, reminder.skip_reason, reminder.updated_at = "skipped", decision, now
            skipped.append((None, decision))
            continue
        if isinstance(decision, datetime):
            reminder.send_at, reminder.updated_at = decision, now  # moved out of quiet hours
            continue
        channel, recipient, pref = decision
        try:
            delivery = _reminder_delivery(session, reminder, channel, recipient, pref, policy, renderer_for,
                                          sender_name, now)
        except (TemplateInvalid, TemplateMissing, TemplateRefused) as exc:
            log.error("reminder %s not sent: %s", reminder.id, exc)
            reminder.status, reminder.skip_reason, reminder.updated_at = "skipped", "template error", now
            skipped.append((channel, "template error"))
            continue
        reminder.status, reminder.delivery_id, reminder.updated_at = "queued", delivery.id, now
        queued += 1
    session.commit()
    if withheld is not None:
        for channel_name, reason in skipped:
            withheld(channel_name, reason)
    return queued


def _reminder_decision(
    session: Session, reminder: Reminder, now: datetime, policy: ReminderPolicy, country: str,
) -> str | datetime | tuple[str, str, ContactPreference]:
    appointment_at = reminder.appointment_at
    if appointment_at <= now:
        return "the appointment has already started"
    period = quiet_period(now, policy)
    if period is not None:
        # Late (the service was down, or the clock jumped): the same quiet-hours rule as planning.
        start, end = period
        if end <= appointment_at - policy.min_notice:
            return end
        return "only quiet hours are left before the appointment"
    pref = session.scalars(select(ContactPreference).where(
        ContactPreference.agency_id == reminder.agency_id, ContactPreference.case_id == reminder.case_id
    )).first()
    if pref is None:
        return "no contact details for the participant"
    if pref.do_not_contact:
        return "the participant asked not to be contacted"
    channel = choose_reminder_channel(pref.channel, pref.phone, pref.email)
    if channel is None:
        return "no reachable contact for the participant"
    recipient = pref.phone if channel == "sms" else pref.email
    assert recipient is not None
    if channel == "sms":
        try:
            recipient = normalize_phone(recipient, country)
        except InvalidPhoneNumber:
            return "the participant's phone number is not valid"
        opted_out = session.get(SmsOptOut, recipient)
        if opted_out is not None and opted_out.opted_out:
            return "the participant opted out of SMS (STOP)"
    if not should_send(ContactPreferences(do_not_contact=pref.do_not_contact), channel):
        return "the participant asked not to be contacted"
    return channel, recipient, pref


PLACE_FALLBACK = {"en": "the program office", "es": "la oficina del programa"}


def _reminder_delivery(
    session: Session, reminder: Reminder, channel: str, recipient: str, pref: ContactPreference,
    policy: ReminderPolicy, renderer_for: RendererFor, sender_name: str, now: datetime,
) -> Delivery:
    renderer = renderer_for(session, reminder.agency_id)
    appointment_at = reminder.appointment_at
    language = choose_language(pref.language)
    context = {
        "first_name": pref.first_name or "",
        "appointment_at": appointment_at.astimezone(policy.zone),
        "place": reminder.location or PLACE_FALLBACK.get(language, PLACE_FALLBACK["en"]),
        "agency_name": sender_name,
    }
    subject = html = None
    if channel == "sms":
        body = renderer.render_sms("appointment_reminder", context, language=language, agency=reminder.agency_id)
    else:
        email = renderer.render_email("appointment_reminder", context, language=language, agency=reminder.agency_id)
        body, subject, html = email.text, email.subject, email.html
    delivery = new_delivery(
        agency=reminder.agency_id, channel=channel, purpose="appointment_reminder", recipient=recipient,
        target_key=channel, trigger_id=f"reminder:{reminder.id}", trigger_type="appointment_reminder",
        body=body, subject=subject, html=html, now=now, case_id=reminder.case_id,
        subject_id=reminder.appointment_id,
    )
    session.add(delivery)
    session.flush()
    return delivery


