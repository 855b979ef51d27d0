"""Turning consumed events into rows: deliveries to partner subscriptions and staff, planned reminders.

Every function here runs inside the event handler's transaction, so the rows it adds commit together
with the inbox row (one event, one set of deliveries, even if the event arrives twice).

Over 400 lines on purpose: one event's fan-out to every audience (partners, staff, participants) in one
module, so what each audience receives for an event is read in one place.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.notifications.domain.phone import InvalidPhoneNumber, normalize_phone
from services.notifications.domain.reminders import ReminderPolicy, plan_reminders
from services.notifications.domain.routing import STAFF_TOPICS, is_rejection, subscription_wants
from services.notifications.models import (
    AppointmentState,
    CaseAssignment,
    ContactPreference,
    Delivery,
    Reminder,
    StaffContact,
    Subscription,
)
from services.notifications.templates import TemplateRenderer
from shared import disclosure
from shared.messaging.envelope import CloudEvent

log = logging.getLogger(__name__)

RendererFor = Callable[[Session, str], TemplateRenderer]


@dataclass(frozen=True)
class FanoutContext:
    now: datetime
    zone_name: str
    staff_app_url: str
    renderer_for: RendererFor
    default_country_code: str = "1"
    staff_app_urls: dict[str, str] = field(default_factory=dict)  # the agencies' own staff applications
    pending_days: int = 14  # how long a staff notice waits for its recipient's contact


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def new_delivery(
    *, agency: str, channel: str, purpose: str, recipient: str, target_key: str, trigger_id: str,
    trigger_type: str, body: str, now: datetime, subject: str | None = None, html: str | None = None,
    subscription_id: str | None = None, org_id: str | None = None, case_id: str | None = None,
    subject_id: str | None = None,
) -> Delivery:
    return Delivery(
        id=new_id("dlv"), agency_id=agency, channel=channel, purpose=purpose, subscription_id=subscription_id,
        org_id=org_id, recipient=recipient, target_key=target_key[:200], trigger_event_id=trigger_id,
        trigger_event_type=trigger_type, case_id=case_id, subject_id=subject_id, subject=subject,
        body=body, html=html, status="pending", attempts=0,
        round_attempts=0, next_attempt_at=now, created_at=now, updated_at=now, version=1,
    )


def about(event: CloudEvent, case_id: str | None = None) -> dict[str, str | None]:
    """What a delivery made from this event is about (sealing and erasure find it by these, ADR 0083)."""
    return {"case_id": case_id or getattr(event.data, "case_id", None), "subject_id": event.subject}


# ------------------------------------------------------------------ partners

_SUBSCRIPTIONS_KEY = "notifications_enabled_subscriptions"


def _enabled_subscriptions(session: Session, agency: str, org_id: str) -> list[Subscription]:
    """The organization's enabled subscriptions; the agency's are looked up once per transaction.

    The events of a batch share one transaction (shared.messaging.consumer) and address the agency's
    partners over and over: one SELECT serves them all. It does not autoflush, so the batch's new
    deliveries are inserted together at commit instead of a few at a time before each lookup. A
    subscription disabled meanwhile is caught when its delivery is claimed.
    """
    transaction = session.get_transaction()
    cached = session.info.get(_SUBSCRIPTIONS_KEY)
    if cached is None or cached[0] is not transaction:
        cached = (transaction, {})
        session.info[_SUBSCRIPTIONS_KEY] = cached
    by_agency: dict[str, dict[str, list[Subscription]]] = cached[1]
    if agency not in by_agency:
        by_org: dict[str, list[Subscription]] = {}
        with session.no_autoflush:
            rows = session.scalars(select(Subscription).where(
                Subscription.agency_id == agency, Subscription.status == "enabled",
            ).order_by(Subscription.created_at, Subscription.id)).all()
        for row in rows:
            by_org.setdefault(row.org_id, []).append(row)
        by_agency[agency] = by_org
        if session.get_transaction() is not transaction:  # the lookup itself began the transaction
            session.info[_SUBSCRIPTIONS_KEY] = (session.get_transaction(), by_agency)
    return by_agency[agency].get(org_id, [])


def partner_deliveries(session: Session, event: CloudEvent, org_id: str, now: datetime) -> list[Delivery]:
    """One delivery per enabled subscription of the addressed organization that wants this event type;
    the body is the partner's view of the event (never the case id)."""
    name = event.spec.name
    subscriptions = _enabled_subscriptions(session, event.tenantid, org_id)
    body, consent_id, categories, purpose = partner_body(event)
    made = []
    for subscription in subscriptions:
        if not subscription_wants(subscription.event_types or [], name):
            continue
        recipient = subscription.url if subscription.channel == "webhook" else subscription.org_id
        if not recipient:
            continue
        delivery = new_delivery(
            agency=event.tenantid, channel=subscription.channel, purpose="partner_event", recipient=recipient,
            target_key=f"sub:{subscription.id}", trigger_id=event.id, trigger_type=event.type, body=body,
            now=now, subscription_id=subscription.id, org_id=org_id, **about(event),
        )
        delivery.consent_id, delivery.disclosure_purpose = consent_id, purpose
        delivery.disclosure_categories = categories
        session.add(delivery)
        made.append(delivery)
    return made


def partner_body(event: CloudEvent) -> tuple[str, str | None, list[str], str]:
    """A partner's copy of the event (ADR 0070): never the event itself, only the shared projection, as
    resources made it (`partner_view`, the sharing profile applied) or, from an older publisher, the safe
    default profile over the event; with the consent it travels under and the categories its body derives."""
    data = event.data.model_dump(mode="json")
    view = data.get("partner_view")
    profile = disclosure.DEFAULT_PROFILE
    if isinstance(view, dict):
        names = [k for k in view if k != disclosure.NOTICE_FIELD]
        try:
            profile = disclosure.SharingProfile.of(names)
        except disclosure.ProfileInvalid:
            log.warning("event %s carries an invalid partner view; the default profile applies", event.id)
            view = None
    projected = disclosure.project(view if isinstance(view, dict) else data, profile)
    scope = data.get("scope") or {}
    consent_id = scope.get("consent_id") or data.get("consent_id")
    categories = sorted(set(disclosure.derive_categories(projected)) | set(scope.get("categories") or []))
    body = json.dumps(disclosure.partner_envelope(event.to_json_dict(), projected), separators=(",", ":"))
    return body, consent_id, categories, str(scope.get("purpose") or "service_referral")


def agency_deliveries(session: Session, event: CloudEvent, now: datetime) -> list[Delivery]:
    """One delivery per enabled subscription of the agency's own systems that wants this event type.

    The agency's own prosecution record (case number, charges, decision, disposition) goes out whole: it is
    the agency's data, for the agency's system. Partner subscriptions are never looked at here.
    """
    name = event.spec.name
    subscriptions = session.scalars(select(Subscription).where(
        Subscription.agency_id == event.tenantid, Subscription.audience == "agency",
        Subscription.status == "enabled",
    ).execution_options(autoflush=False)).all()
    body = json.dumps(event.to_json_dict(), separators=(",", ":"))
    made = []
    for subscription in subscriptions:
        if not subscription_wants(subscription.event_types or [], name) or not subscription.url:
            continue
        delivery = new_delivery(
            agency=event.tenantid, channel=subscription.channel, purpose="agency_event", recipient=subscription.url,
            target_key=f"sub:{subscription.id}", trigger_id=event.id, trigger_type=event.type, body=body,
            now=now, subscription_id=subscription.id, org_id=None, **about(event),
        )
        session.add(delivery)
        made.append(delivery)
    return made


def staff_context_for_review(data: Any, ctx: FanoutContext, agency: str | None = None) -> dict[str, Any]:
    return {
        "referral_ref": data.referral_id,
        "reasons": list(data.reasons),
        "due_on": data.due_on,
        "link": link(ctx, f"referrals/{data.referral_id}", agency),
    }


# ------------------------------------------------------------------ staff


def lock_staff(session: Session, agency: str, staff_ids: Iterable[str]) -> None:
    """Serialise "is there a contact for this person? no: hold the notice" with "the contact arrives: send
    what is held" (PostgreSQL advisory locks for the transaction, taken in one order). Without it a notice held
    by a transaction still open while the contact's transaction releases the held ones would wait for ever."""
    if session.get_bind().dialect.name != "postgresql":
        return  # SQLite: one writer at a time already
    for staff_id in sorted({staff_id for staff_id in staff_ids if staff_id}):
        digest = hashlib.blake2b(f"staff-contact:{agency}:{staff_id}".encode(), digest_size=8).digest()
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                        {"key": int.from_bytes(digest, "big", signed=True)})


def _staff_by_ids(session: Session, agency: str, staff_ids: Iterable[str]) -> list[StaffContact]:
    ids = [staff_id for staff_id in staff_ids if staff_id]
    if not ids:
        return []
    return list(session.scalars(select(StaffContact).where(
        StaffContact.agency_id == agency, StaffContact.staff_id.in_(ids), StaffContact.active.is_(True)
    )).all())


def _staff_by_topic(session: Session, agency: str, topic: str) -> list[StaffContact]:
    contacts = session.scalars(select(StaffContact).where(
        StaffContact.agency_id == agency, StaffContact.active.is_(True)
    )).all()
    return [contact for contact in contacts if topic in (contact.topics or [])]


def staff_deliveries(
    session: Session, event: CloudEvent, topic: str, context: dict[str, Any], ctx: FanoutContext,
    direct: Iterable[str] = (), case_id: str | None = None,
) -> list[Delivery]:
    """Email the staff named in `direct` (e.g. the case manager) and those subscribed to `topic`.

    Someone in `direct` without a contact yet gets the notice once their contact arrives (staff.registered
    or PUT /v1/staff-contacts): it waits as a pending notice."""
    recipients: dict[str, StaffContact] = {}
    direct = list(direct)
    lock_staff(session, event.tenantid, direct)
    named = _staff_by_ids(session, event.tenantid, direct)
    for contact in [*named, *_staff_by_topic(session, event.tenantid, topic)]:
        recipients.setdefault(contact.email.lower(), contact)
    known = {contact.staff_id for contact in named}
    for staff_id in dict.fromkeys(staff_id for staff_id in direct if staff_id and staff_id not in known):
        from services.notifications.usecases.directory import hold_notice

        hold_notice(session, event, staff_id, topic, context, ctx.now)
    if not recipients:
        log.info("no staff contact for %s of event %s; nothing sent", topic, event.id)
        return []
    renderer = ctx.renderer_for(session, event.tenantid)
    template = STAFF_TOPICS[topic]
    made = []
    for contact in recipients.values():
        rendered = renderer.render_email(template, context, language=contact.language, agency=event.tenantid)
        delivery = new_delivery(
            agency=event.tenantid, channel="email", purpose=f"staff_{topic}", recipient=contact.email,
            target_key=f"staff:{contact.staff_id}", trigger_id=event.id, trigger_type=event.type,
            body=rendered.text, html=rendered.html, subject=rendered.subject, now=ctx.now,
            **about(event, case_id),
        )
        session.add(delivery)
        made.append(delivery)
    return made


def record_assignment(session: Session, agency: str, case_id: str, case_manager: str, at: datetime) -> None:
    """Remember the latest case manager of a case (an older, late event does not win)."""
    statement = select(CaseAssignment).where(CaseAssignment.agency_id == agency, CaseAssignment.case_id == case_id)
    row = session.scalars(statement.with_for_update()).first()
    if row is None:
        try:
            with session.begin_nested():  # another instance may insert the same case at the same moment
                session.add(CaseAssignment(agency_id=agency, case_id=case_id, case_manager=case_manager,
                                           assigned_at=at))
            return
        except IntegrityError:
            row = session.scalars(statement.with_for_update()).one()
    if row.assigned_at <= at:
        row.case_manager, row.assigned_at = case_manager, at


def case_manager_of(session: Session, agency: str, case_id: str) -> str | None:
    return session.scalars(select(CaseAssignment.case_manager).where(
        CaseAssignment.agency_id == agency, CaseAssignment.case_id == case_id
    )).first()


def link(ctx: FanoutContext, path: str, agency: str | None = None) -> str | None:
    """The agency's staff application's page, or None (no link) when no application is configured."""
    base = (ctx.staff_app_urls.get(agency) if agency else None) or ctx.staff_app_url
    return f"{base.rstrip('/')}/{path.lstrip('/')}" if base else None


def local(moment: datetime, ctx: FanoutContext) -> datetime:
    from zoneinfo import ZoneInfo

    return moment.astimezone(ZoneInfo(ctx.zone_name))


# ------------------------------------------------------------------ participants


def _field(data: Any, *names: str) -> Any:
    """The first present, non-empty attribute: tolerant of the catalog's field names changing."""
    for name in names:
        value = getattr(data, name, None)
        if value not in (None, ""):
            return value
    participant = getattr(data, "participant", None)
    if participant is not None:
        for name in names:
            value = getattr(participant, name.removeprefix("participant_"), None)
            if value not in (None, ""):
                return value
    return None


def remember_contact(session: Session, agency: str, case_id: str, data: Any, now: datetime,
                     default_country_code: str = "1") -> ContactPreference:
    """Update the participant's contact details from an event: a language staff chose is kept, and a row the
    event changes gets a new version (the ETag a staff member's next PUT must name)."""
    pref = session.scalars(select(ContactPreference).where(
        ContactPreference.agency_id == agency, ContactPreference.case_id == case_id
    ).with_for_update()).first()
    created = pref is None
    if pref is None:
        pref = ContactPreference(agency_id=agency, case_id=case_id, do_not_contact=False, version=1, updated_at=now,
                                 language_set_by_staff=False)
        session.add(pref)
    first_name = _field(data, "participant_first_name", "first_name")
    participant_id = _field(data, "participant_id")
    if participant_id and pref.participant_id is None:
        pref.participant_id = str(participant_id)  # not a contact detail: no new version
    phone = _field(data, "phone", "participant_phone")
    email = _field(data, "email", "participant_email")
    language = _field(data, "preferred_language", "language")
    offered: dict[str, str] = {}
    if phone:
        try:
            offered["phone"] = normalize_phone(str(phone), default_country_code)
        except InvalidPhoneNumber:
            log.warning("appointment for case %s carries an invalid phone number; SMS not possible", case_id)
    if first_name:
        offered["first_name"] = str(first_name)
    if email:
        offered["email"] = str(email)
    if language and not pref.language_set_by_staff:
        offered["language"] = str(language)
    changed = {name: value for name, value in offered.items() if getattr(pref, name) != value}
    for name, value in changed.items():
        setattr(pref, name, value)
    if changed or created:
        pref.updated_at = now
        if not created:
            pref.version = (pref.version or 1) + 1
    return pref


def plan_appointment(
    session: Session, agency: str, data: Any, policy: ReminderPolicy, now: datetime,
    default_country_code: str = "1",
) -> list[Reminder]:
    """Create (or move, when rescheduled) the appointment's reminder rows; returns the scheduled ones.

    Reminders planned for another time of the appointment are withdrawn: a scheduled one is cancelled,
    a queued one whose delivery has not gone out is cancelled with its delivery; one already sent stays
    sent (it named the old time) and the new time gets its own reminders. An event older than the
    appointment's latest applied version changes nothing."""
    if not appointment_version_applies(session, agency, data.appointment_id, getattr(data, "version", None),
                                       "scheduled", now):
        return []
    remember_contact(session, agency, data.case_id, data, now, default_country_code)
    starts_at = data.starts_at
    planned = {int(item.offset / timedelta(minutes=1)): item for item in plan_reminders(starts_at, now, policy)}
    rows = session.scalars(select(Reminder).where(
        Reminder.agency_id == agency, Reminder.appointment_id == data.appointment_id
    ).with_for_update()).all()
    existing: dict[int, Reminder] = {}
    for row in rows:
        if row.appointment_at == starts_at:
            existing[row.offset_minutes] = row
        else:
            withdraw_reminder(session, row, "appointment rescheduled", now)
    scheduled = []
    for offset, row in existing.items():
        revivable = row.status == "cancelled" and row.skip_reason == "appointment rescheduled"
        if row.status != "scheduled" and not revivable:
            continue  # already queued or decided: never sent twice
        if offset in planned:
            row.status, row.skip_reason = "scheduled", None
            row.send_at, row.location, row.updated_at = planned[offset].send_at, data.location, now
            scheduled.append(row)
        elif row.status == "scheduled":
            row.status, row.skip_reason, row.updated_at = "cancelled", "appointment rescheduled", now
    for offset, item in planned.items():
        if offset in existing:
            continue
        row = Reminder(
            id=new_id("rem"), agency_id=agency, appointment_id=data.appointment_id, case_id=data.case_id,
            offset_minutes=offset, send_at=item.send_at, appointment_at=starts_at, location=data.location,
            status="scheduled", created_at=now, updated_at=now,
        )
        session.add(row)
        scheduled.append(row)
    return scheduled


def withdraw_reminder(session: Session, row: Reminder, reason: str, now: datetime) -> None:
    """The reminder is not sent: cancelled if still planned, its delivery cancelled if it has not gone out."""
    if row.status == "scheduled":
        row.status, row.skip_reason, row.updated_at = "cancelled", reason, now
    elif row.status == "queued" and row.delivery_id:
        session.execute(update(Delivery).where(Delivery.id == row.delivery_id, Delivery.status == "pending").values(
            status="cancelled", last_error=reason, next_attempt_at=None, updated_at=now,
            version=Delivery.version + 1,
        ).execution_options(synchronize_session=False))


def appointment_version_applies(session: Session, agency: str, appointment_id: str, version: int | None,
                                status: str, now: datetime) -> bool:
    """Record the appointment's version; False when a newer one (or a cancellation) was applied already.

    Scheduled, rescheduled and cancelled travel on separate queues, so they may arrive out of order."""
    statement = select(AppointmentState).where(AppointmentState.agency_id == agency,
                                               AppointmentState.appointment_id == appointment_id)
    row = session.scalars(statement.with_for_update()).first()
    if row is None:
        try:
            with session.begin_nested():
                session.add(AppointmentState(agency_id=agency, appointment_id=appointment_id, version=version or 1,
                                             status=status, updated_at=now))
            return True
        except IntegrityError:
            row = session.scalars(statement.with_for_update()).one()
    if row.status == "cancelled" and status != "cancelled":
        return False  # cancelled is final
    if version is not None and version < row.version:
        return False
    row.version, row.status, row.updated_at = max(version or row.version, row.version), status, now
    return True


def staff_context_for_rejection(data: Any, ctx: FanoutContext, agency: str | None = None) -> dict[str, Any]:
    # The event names the organization and the service referral only; names come with a later catalog
    # version (see ADR 0050), so ids stand in for them.
    return {
        "organization_name": data.organization_id,
        "service_name": getattr(data, "service_name", None) or "the requested service",
        "case_ref": getattr(data, "case_id", None) or data.service_referral_id,
        "reason": data.note or getattr(data, "reason_code", None) or "",
        "link": link(ctx, f"service-referrals/{data.service_referral_id}", agency),
    }


def staff_context_for_escalation(data: Any, ctx: FanoutContext, agency: str | None = None) -> dict[str, Any]:
    waited = data.escalated_at - data.waiting_since
    return {
        "organization_name": data.organization_id,
        "service_name": getattr(data, "service_name", None) or "the requested service",
        "case_ref": getattr(data, "case_id", None) or data.service_referral_id,
        "waiting_days": max(waited.days, 0),
        "link": link(ctx, f"service-referrals/{data.service_referral_id}", agency),
    }


__all__ = [
    "FanoutContext",
    "agency_deliveries",
    "case_manager_of",
    "is_rejection",
    "new_delivery",
    "partner_deliveries",
    "plan_appointment",
    "record_assignment",
    "staff_deliveries",
]
