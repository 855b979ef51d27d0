"""Appointments of a case: scheduled, rescheduled and cancelled, each announced so notifications plans,
moves or withdraws the participant's reminders."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.casework.domain import appointments as rules
from services.casework.domain import supervision
from services.casework.mapping import appointment_row
from services.casework.models import AppointmentRecord, CaseRecord, Participant
from services.casework.schemas import AppointmentIn, AppointmentPatch, CancelIn
from services.casework.usecases.common import Missing, emit_data, require_open
from shared.messaging import Emit
from shared.messaging.catalog import AppointmentCancelled, AppointmentRescheduled, AppointmentScheduled


def _participant_fields(session: Session, case: CaseRecord) -> dict[str, object]:
    person = session.get(Participant, case.participant_id)
    assert person is not None
    return {"participant_id": person.id, "participant_first_name": person.first_name, "phone": person.phone,
            "email": person.email, "preferred_language": person.preferred_language}


def add_appointment(session: Session, emit: Emit, case: CaseRecord, body: AppointmentIn) -> AppointmentRecord:
    """Schedule it. Refused: a kind's missing or foreign fields (AppointmentFieldsInvalid), an end at or
    before the start (the domain's AppointmentEndsBeforeStart)."""
    require_open(case)
    rules.check_kind_fields(body.kind, {"court": body.court, "division": body.division,
                                        "docket_number": body.docket_number})
    appointment = supervision.schedule_appointment(
        id=str(uuid.uuid4()), case_id=case.id, agency_id=case.agency_id, starts_at=body.starts_at,
        ends_at=body.ends_at, kind=body.kind.value, with_whom=body.with_whom, location=body.location,
        service_referral_id=body.service_referral_id)
    row = appointment_row(appointment)
    row.court, row.division, row.docket_number = body.court, body.division, body.docket_number
    session.add(row)
    emit_data(emit, AppointmentScheduled(
        appointment_id=row.id, case_id=case.id, starts_at=appointment.starts_at, ends_at=appointment.ends_at,
        kind=row.kind, location=body.location, with_whom=body.with_whom, version=1,
        **_participant_fields(session, case),
    ), subject=row.id, agency=case.agency_id)
    return row


def list_appointments(session: Session, case_id: str) -> list[AppointmentRecord]:
    return list(session.scalars(select(AppointmentRecord).where(AppointmentRecord.case_id == case_id)
                                .order_by(AppointmentRecord.starts_at, AppointmentRecord.id)))


def appointment_of(session: Session, case: CaseRecord, appointment_id: str, *, lock: bool = False) -> AppointmentRecord:
    statement = select(AppointmentRecord).where(AppointmentRecord.agency_id == case.agency_id,
                                                AppointmentRecord.case_id == case.id,
                                                AppointmentRecord.id == appointment_id)
    row = session.scalar(statement.with_for_update() if lock else statement)
    if row is None:
        raise Missing("no such appointment on this case")
    return row


def change_appointment(session: Session, emit: Emit, case: CaseRecord, row: AppointmentRecord,
                       body: AppointmentPatch, *, now: datetime) -> str:
    """Reschedule or cancel (the caller checked If-Match on the locked row); returns the audit action.

    Refused: a case that is closed (CaseClosed), an appointment no longer scheduled (AppointmentNotChangeable),
    an end at or before the start (AppointmentFieldsInvalid)."""
    require_open(case)
    if isinstance(body, CancelIn):
        row.status = rules.cancel(row.status)
        row.cancel_reason = body.reason
        row.version += 1
        emit_data(emit, AppointmentCancelled(
            appointment_id=row.id, case_id=case.id, starts_at=row.starts_at, reason=body.reason, cancelled_at=now,
            version=row.version,
        ), subject=row.id, agency=case.agency_id)
        return "appointment.cancelled"
    previous = row.starts_at
    slot = rules.reschedule(row.status, rules.Slot(row.starts_at, row.ends_at, row.location),
                            body.starts_at, body.ends_at, body.location)
    row.starts_at, row.ends_at, row.location = slot.starts_at, slot.ends_at, slot.location
    row.version += 1
    emit_data(emit, AppointmentRescheduled(
        appointment_id=row.id, case_id=case.id, starts_at=slot.starts_at, ends_at=slot.ends_at, kind=row.kind,
        location=slot.location, with_whom=row.with_whom, version=row.version, previous_starts_at=previous,
        reason=body.reason, rescheduled_at=now, **_participant_fields(session, case),
    ), subject=row.id, agency=case.agency_id)
    return "appointment.rescheduled"


def cancel_for_closed_case(session: Session, emit: Emit, case: CaseRecord, *, reason: str,
                           now: datetime) -> list[str]:
    """Close-out: the case's appointments still scheduled after `now` are cancelled, each announced (so
    notifications withdraws their reminders), in the transaction that closes the case; returns their ids."""
    rows = session.scalars(select(AppointmentRecord).where(
        AppointmentRecord.agency_id == case.agency_id, AppointmentRecord.case_id == case.id,
        AppointmentRecord.status == "scheduled", AppointmentRecord.starts_at > now,
    ).order_by(AppointmentRecord.starts_at, AppointmentRecord.id).with_for_update()).all()
    for row in rows:
        row.status = rules.cancel(row.status)
        row.cancel_reason = reason
        row.version += 1
        emit_data(emit, AppointmentCancelled(
            appointment_id=row.id, case_id=case.id, starts_at=row.starts_at, reason=reason, cancelled_at=now,
            version=row.version,
        ), subject=row.id, agency=case.agency_id)
    return [row.id for row in rows]

