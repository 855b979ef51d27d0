"""One staff directory: staff contacts learnt from casework's staff events, and notices that wait for them.

casework owns the staff directory and announces every member (`staff.registered`, `staff.updated`) with
the contact fields; notifications keeps its `staff_contact` rows from those events, keyed like the
events that name staff (the token `sub`, else the staff id). `PUT /v1/staff-contacts/<id>` remains for
the agency-wide topics a person opts into and for recipients who are not casework staff.

A notice for a named person (the case manager of an overdue case) raised before their contact existed
is kept as a `pending_staff_notice` and sent once the contact arrives, unless it waited longer than
`pending_staff_notice_days`.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.notifications.domain.routing import STAFF_TOPICS
from services.notifications.models import PendingStaffNotice, StaffContact
from services.notifications.usecases.fanout import FanoutContext, lock_staff, new_delivery
from shared.messaging.catalog import StaffRegistered, StaffUpdated
from shared.messaging.envelope import CloudEvent

log = logging.getLogger(__name__)


# ------------------------------------------------------------------ template values as JSON

def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, dict):
        return {key: _encode(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(item) for item in value]
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$datetime"}:
            return datetime.fromisoformat(value["$datetime"])
        if set(value) == {"$date"}:
            return date.fromisoformat(value["$date"])
        return {key: _decode(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_decode(item) for item in value]
    return value


# ------------------------------------------------------------------ pending notices

def hold_notice(session: Session, event: CloudEvent[Any], staff_id: str, topic: str, context: dict[str, Any],
                now: datetime) -> None:
    """Keep the notice for `staff_id` until their contact exists (once per event and person)."""
    exists = session.scalars(select(PendingStaffNotice.id).where(
        PendingStaffNotice.trigger_event_id == event.id, PendingStaffNotice.staff_id == staff_id)).first()
    if exists is not None:
        return
    try:
        with session.begin_nested():
            session.add(PendingStaffNotice(
                agency_id=event.tenantid, staff_id=staff_id, topic=topic, trigger_event_id=event.id,
                trigger_event_type=event.type, context=_encode(context), status="pending", created_at=now,
            ))
    except IntegrityError:
        return
    log.info("no contact for staff %s yet: %s notice of event %s kept until it arrives", staff_id, topic, event.id)


def release_notices(session: Session, contact: StaffContact, ctx: FanoutContext) -> int:
    """Send the notices waiting for this contact; returns how many deliveries were made."""
    if not contact.active:
        return 0
    rows = session.scalars(select(PendingStaffNotice).where(
        PendingStaffNotice.agency_id == contact.agency_id, PendingStaffNotice.staff_id == contact.staff_id,
        PendingStaffNotice.status == "pending",
    ).order_by(PendingStaffNotice.created_at, PendingStaffNotice.id).with_for_update(skip_locked=True)).all()
    if not rows:
        return 0
    renderer = ctx.renderer_for(session, contact.agency_id)
    oldest = ctx.now - timedelta(days=ctx.pending_days)
    made = 0
    for row in rows:
        if row.created_at < oldest:
            row.status, row.settled_at = "expired", ctx.now
            continue
        rendered = renderer.render_email(STAFF_TOPICS[row.topic], _decode(row.context), language=contact.language,
                                         agency=contact.agency_id)
        session.add(new_delivery(
            agency=contact.agency_id, channel="email", purpose=f"staff_{row.topic}", recipient=contact.email,
            target_key=f"staff:{contact.staff_id}", trigger_id=row.trigger_event_id,
            trigger_type=row.trigger_event_type, body=rendered.text, html=rendered.html, subject=rendered.subject,
            now=ctx.now, case_id=(row.context or {}).get("case_ref"),
        ))
        row.status, row.settled_at = "sent", ctx.now
        made += 1
    return made


# ------------------------------------------------------------------ contacts from casework's staff events

def learn_staff(session: Session, event: CloudEvent[StaffRegistered] | CloudEvent[StaffUpdated],
                ctx: FanoutContext) -> bool:
    """Create or update the member's contact (topics and language chosen here are kept); send what waited."""
    data = event.data
    if data.agency_id != event.tenantid:
        log.warning("staff event %s names agency %s but travels for %s; ignored", event.id, data.agency_id,
                    event.tenantid)
        return False
    staff_id = data.subject or data.staff_id
    lock_staff(session, event.tenantid, [staff_id])
    statement = select(StaffContact).where(StaffContact.agency_id == event.tenantid,
                                           StaffContact.staff_id == staff_id)
    contact = session.scalars(statement.with_for_update()).first()
    if contact is None:
        try:
            with session.begin_nested():
                contact = StaffContact(agency_id=event.tenantid, staff_id=staff_id, email=str(data.email),
                                       name=data.display_name, topics=[], active=data.active, version=1,
                                       updated_at=ctx.now)
                session.add(contact)
        except IntegrityError:
            contact = session.scalars(statement.with_for_update()).one()
    if (contact.email, contact.name, contact.active) != (str(data.email), data.display_name, data.active):
        contact.email, contact.name, contact.active = str(data.email), data.display_name, data.active
        contact.version += 1
        contact.updated_at = ctx.now
    session.flush()
    return release_notices(session, contact, ctx) > 0
