"""Sealing and erasure of what notifications holds about a case and its participant (ADR 0083).

Notifications never stores a "case record" of its own: it holds the participant's contact (per case), the
appointment reminders, the deliveries made from events about the case (each names its `case_id` and the
trigger event's `subject_id`: the case, an appointment, a service referral, a delivery), the service-referral
→ case mapping, the case manager, the consent copy of the participant and staff notices still waiting.
`links` finds all of them from the case id; sealing marks and silences them, erasure deletes them and keeps
only the keyed tombstones that make every creating handler refuse an old event about the person (`refused`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, or_, select, update
from sqlalchemy.orm import Session

from services.notifications.models import (
    AppointmentState,
    CaseAssignment,
    ContactPreference,
    Delivery,
    DeliveryAttempt,
    Messaging,
    PartnerConsent,
    PendingStaffNotice,
    Reminder,
    ServiceReferralCase,
)
from services.notifications.usecases.referral_cases import waiting_for_case
from shared.http import Call, Forbidden, NotFound
from shared.http.problems import BadRequest
from shared.messaging import CloudEvent
from shared.messaging.catalog import (
    NotificationsErasureConfirmed,
    NotificationsSealingConfirmed,
    RecordErasureRequested,
    RecordSealingRequested,
    spec_for,
)
from shared.messaging.envelope import new_event
from shared.messaging.outbox import record as record_event
from shared.records import SealedRecord, buried, bury, digests, guard_read, seal, sealed_ids, unmark
from shared.sealing import RECORDS_OFFICER, LegalBasisProblem, legal_basis

log = logging.getLogger(__name__)

SEALED_REASON = "record sealed"
CONFIRMATION_TYPES = frozenset(spec_for("notifications", name).type
                               for name in ("record.sealing_confirmed", "record.erasure_confirmed"))


@dataclass(frozen=True)
class CaseLinks:
    """Every id notifications holds about one case and its participant."""

    case_id: str | None
    service_referrals: frozenset[str]
    appointments: frozenset[str]
    reminders: frozenset[str]
    deliveries: frozenset[str]
    triggers: frozenset[str]
    participants: frozenset[str]

    def subjects(self, referral_id: str) -> set[str]:
        """The ids an outbox row or a delivery may name as its subject."""
        return {referral_id, *([self.case_id] if self.case_id else []), *self.service_referrals,
                *self.appointments, *self.deliveries, *self.participants}


def _ids(rows: Iterable[Any]) -> frozenset[str]:
    return frozenset(str(row) for row in rows if row)


def links(session: Session, agency: str, case_id: str | None, referral_id: str) -> CaseLinks:
    """Find the case's rows: its service referrals and reminders, the deliveries about any of them (by case,
    subject, reminder or the same trigger event), the participant (contact, consents of those deliveries)."""
    referrals = _ids(session.scalars(select(ServiceReferralCase.service_referral_id).where(
        ServiceReferralCase.agency_id == agency, ServiceReferralCase.case_id == case_id))) if case_id else frozenset()
    reminder_rows = session.execute(select(Reminder.id, Reminder.appointment_id, Reminder.delivery_id).where(
        Reminder.agency_id == agency, Reminder.case_id == case_id)).all() if case_id else []
    reminders = _ids(r.id for r in reminder_rows)
    appointments = _ids(r.appointment_id for r in reminder_rows)
    subjects = {referral_id, *referrals, *appointments, *([case_id] if case_id else [])}
    about: list[ColumnElement[bool]] = [Delivery.subject_id.in_(sorted(subjects)),
             Delivery.trigger_event_id.in_(sorted(f"reminder:{r}" for r in reminders)),
             Delivery.id.in_(sorted(_ids(r.delivery_id for r in reminder_rows)))]
    if case_id:
        about.append(Delivery.case_id == case_id)
    # Partner deliveries made before deliveries named their subject: the envelope in the body names it.
    about += [and_(Delivery.subject_id.is_(None), Delivery.purpose == "partner_event",
                   Delivery.body.contains(f'"subject":"{referral}"')) for referral in sorted(referrals)]
    found: list[Any] = list(session.execute(select(Delivery.id, Delivery.trigger_event_id, Delivery.consent_id)
                                            .where(Delivery.agency_id == agency, or_(*about))).all())
    deliveries = _ids(d.id for d in found)
    triggers = _ids(d.trigger_event_id for d in found if not d.trigger_event_id.startswith("reminder:"))
    if deliveries or triggers:  # the same event's other deliveries, and the notices about these deliveries
        more = session.execute(select(Delivery.id, Delivery.consent_id).where(
            Delivery.agency_id == agency, or_(Delivery.trigger_event_id.in_(sorted(triggers)),
                                              Delivery.subject_id.in_(sorted(deliveries))))).all()
        found = [*found, *more]
        deliveries = deliveries | _ids(d.id for d in more)
    participants = set(_ids(session.scalars(select(ContactPreference.participant_id).where(
        ContactPreference.agency_id == agency, ContactPreference.case_id == case_id)))) if case_id else set()
    consents = sorted(_ids(d.consent_id for d in found))
    if consents:
        participants |= _ids(session.scalars(select(PartnerConsent.participant_id).where(
            PartnerConsent.consent_id.in_(consents))))
    return CaseLinks(case_id, referrals, appointments, reminders, deliveries, triggers, frozenset(participants))


def _rows(session: Session, statement: Any) -> int:
    """How many rows an UPDATE or DELETE changed (a CursorResult's rowcount; the stubs say Result)."""
    result: Any = session.execute(statement.execution_options(synchronize_session=False))
    return int(result.rowcount or 0)


def _confirm(session: Session, agency: str, data: Any, kind: type, counts: dict[str, int], now: datetime) -> None:
    confirmation = kind(request_id=data.request_id, referral_id=data.referral_id, service="notifications",
                        counts=counts, confirmed_at=now)
    record_event(session, new_event(confirmation, subject=data.referral_id, tenantid=agency), service="notifications")


# ------------------------------------------------------------------ sealing

PARTICIPANT_PURPOSES = ("appointment_reminder",)  # the messages that reach the person themselves


def seal_case(session: Session, agency: str, data: RecordSealingRequested, now: datetime) -> dict[str, int]:
    """Stop every message to the participant about the case that has not gone out, mark the case's deliveries
    and contact sealed, and confirm (in this transaction) with the counts: a redelivered or retried request
    counts 0 and confirms."""
    found = links(session, agency, data.case_id, data.referral_id)
    reminders = _rows(session, update(Reminder).where(
        Reminder.id.in_(sorted(found.reminders)), Reminder.status == "scheduled",
    ).values(status="cancelled", skip_reason=SEALED_REASON, updated_at=now))
    # What goes to the participant stops; the partner's closing status, the agency's own feed and staff
    # notices still go (the close-out cascade's last word, ADR 0080).
    deliveries = _rows(session, update(Delivery).where(
        Delivery.id.in_(sorted(found.deliveries)), Delivery.status == "pending",
        Delivery.purpose.in_(PARTICIPANT_PURPOSES),
    ).values(status="cancelled", last_error=SEALED_REASON, next_attempt_at=None, updated_at=now,
             version=Delivery.version + 1))
    counts = {
        "delivery": seal(session, agency, "delivery", found.deliveries, data.request_id, now),
        "case": seal(session, agency, "case", [data.case_id] if data.case_id else [], data.request_id, now),
        "reminder_cancelled": reminders,
        "delivery_cancelled": deliveries,
    }
    _confirm(session, agency, data, NotificationsSealingConfirmed, counts, now)
    log.info("sealing request %s: %s", data.request_id, counts)
    return counts


# ------------------------------------------------------------------ erasure




def _pending_notices(session: Session, agency: str, found: CaseLinks) -> list[int]:
    """Staff notices still waiting that are about the case: its events, its referrals, or naming it."""
    waiting = {waiting_for_case(r) for r in found.service_referrals}
    refs = {*found.service_referrals, *([found.case_id] if found.case_id else [])}
    rows = session.execute(select(PendingStaffNotice.id, PendingStaffNotice.trigger_event_id,
                                  PendingStaffNotice.staff_id, PendingStaffNotice.context).where(
        PendingStaffNotice.agency_id == agency)).all()
    return [row.id for row in rows if row.trigger_event_id in found.triggers or row.staff_id in waiting
            or (row.context or {}).get("case_ref") in refs or (row.context or {}).get("referral_ref") in refs]


def erase_case(session: Session, agency: str, data: RecordErasureRequested, key: bytes,
               now: datetime) -> dict[str, int]:
    """Delete every row about the case and its participant, keep their tombstones, confirm with the rows
    deleted per table (a second erasure deletes 0 and confirms again)."""
    found = links(session, agency, data.case_id, data.referral_id)
    case_id, deliveries = found.case_id, sorted(found.deliveries)
    participants = sorted(found.participants)
    marks = len(sealed_ids(session, agency, "delivery", deliveries)) + len(
        sealed_ids(session, agency, "case", [case_id] if case_id else []))
    unmark(session, agency, "delivery", deliveries)
    unmark(session, agency, "case", [case_id] if case_id else [])
    outbox = Messaging.outbox
    counts = {
        "delivery_attempt": _rows(session, delete(DeliveryAttempt).where(
            DeliveryAttempt.delivery_id.in_(deliveries))) if deliveries else 0,
        "delivery": _rows(session, delete(Delivery).where(Delivery.id.in_(deliveries))) if deliveries else 0,
        "reminder": _rows(session, delete(Reminder).where(Reminder.id.in_(sorted(found.reminders)))),
        "appointment_state": _rows(session, delete(AppointmentState).where(
            AppointmentState.agency_id == agency, AppointmentState.appointment_id.in_(sorted(found.appointments)))),
        "contact_preference": _rows(session, delete(ContactPreference).where(
            ContactPreference.agency_id == agency, ContactPreference.case_id == case_id)) if case_id else 0,
        "case_assignment": _rows(session, delete(CaseAssignment).where(
            CaseAssignment.agency_id == agency, CaseAssignment.case_id == case_id)) if case_id else 0,
        "service_referral_case": _rows(session, delete(ServiceReferralCase).where(
            ServiceReferralCase.agency_id == agency, ServiceReferralCase.case_id == case_id)) if case_id else 0,
        "partner_consent": _rows(session, delete(PartnerConsent).where(
            PartnerConsent.agency_id == agency, or_(PartnerConsent.participant_id.in_(participants),
                                                    PartnerConsent.person_id.in_(participants)))),
        "pending_staff_notice": _rows(session, delete(PendingStaffNotice).where(
            PendingStaffNotice.id.in_(_pending_notices(session, agency, found)))),
        "record_mark": marks,
        "outbox": _rows(session, outbox.delete().where(
            outbox.c.sent_at.is_not(None), outbox.c.subject.in_(sorted(found.subjects(data.referral_id))),
            outbox.c.event_type.not_in(sorted(CONFIRMATION_TYPES)))),
    }
    stones = digests(key, agency, referral=data.referral_id, case=case_id)
    for participant in participants:
        stones += digests(key, agency, participant=participant)
    counts["tombstone"] = bury(session, stones, data.request_id, now)
    _confirm(session, agency, data, NotificationsErasureConfirmed, counts, now)
    log.info("erasure request %s: %s", data.request_id, counts)
    return counts


# ------------------------------------------------------------------ the tombstone check of creating handlers


def carried_ids(event: CloudEvent[Any]) -> list[tuple[str, str]]:
    """The (kind, id) pairs an event names that a tombstone may bury: its referral, case and participant."""
    data = event.data
    scope = getattr(data, "scope", None)
    pairs = [("referral", getattr(data, "referral_id", None)), ("case", getattr(data, "case_id", None)),
             ("participant", getattr(data, "participant_id", None)),
             ("participant", getattr(data, "person_id", None)),
             ("participant", getattr(scope, "participant_id", None) if scope is not None else None)]
    return [(kind, str(value)) for kind, value in pairs if value]


def refused(session: Session, key: bytes, event: CloudEvent[Any]) -> bool:
    """Whether the event is about an erased person: then nothing is created from it (it is acknowledged)."""
    stones = [digest for kind, value in carried_ids(event) for digest in digests(key, event.tenantid,
                                                                                 **{kind: value})]
    if not buried(session, stones):
        return False
    log.warning("event %s names an erased record: acknowledged, nothing created", event.id)
    return True


# ------------------------------------------------------------------ reads of sealed records


def guard(session: Session, call: Call, kind: str, record_id: str, missing: str) -> str | None:
    """None (not sealed) or the RSMo 610.120 code a records officer opens this sealed record under (the
    caller audits `sealed_record.opened`); anyone else gets the 404 `missing` names, as if it were absent, and
    a records officer without a valid X-Legal-Basis a 400."""
    assert call.identity is not None
    try:
        return guard_read(session, call.identity.roles, call.legal_basis, call.agency, kind, record_id)
    except SealedRecord:
        raise NotFound(missing) from None
    except LegalBasisProblem as problem:
        raise (Forbidden(problem.detail) if problem.status == 403 else BadRequest(problem.detail)) from None


def list_basis(call: Call) -> str | None:
    """The code under which a records officer's list shows sealed rows too; None: they are left out. A
    records officer naming a code that is not one is answered 400."""
    assert call.identity is not None
    if RECORDS_OFFICER in call.identity.roles and call.legal_basis is not None:
        try:
            return legal_basis(call.identity.roles, call.legal_basis)
        except LegalBasisProblem as problem:
            raise BadRequest(problem.detail) from None
    return None
