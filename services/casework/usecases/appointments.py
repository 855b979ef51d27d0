"""Appointments of a case (each announced as appointment.scheduled so the participant is reminded)."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.casework.domain import supervision
from services.casework.mapping import appointment_row
from services.casework.models import AppointmentRecord, CaseRecord, Participant
from services.casework.schemas import AppointmentIn
from services.casework.usecases.common import emit_data, require_open
from shared.messaging import Emit
from shared.messaging.catalog import AppointmentScheduled


def add_appointment(session: Session, emit: Emit, case: CaseRecord, body: AppointmentIn) -> AppointmentRecord:
    """Schedule it (the domain's AppointmentEndsBeforeStart when it ends at or before its start)."""
    require_open(case)
    appointment = supervision.schedule_appointment(
        id=str(uuid.uuid4()), case_id=case.id, agency_id=case.agency_id, starts_at=body.starts_at,
        ends_at=body.ends_at, kind=body.kind, with_whom=body.with_whom, location=body.location,
        service_referral_id=body.service_referral_id)
    person = session.get(Participant, case.participant_id)
    assert person is not None
    row = appointment_row(appointment)
    session.add(row)
    emit_data(emit, AppointmentScheduled(
        appointment_id=row.id, case_id=case.id, starts_at=appointment.starts_at, ends_at=appointment.ends_at,
        kind=body.kind, location=body.location, participant_id=person.id, participant_first_name=person.first_name,
        phone=person.phone, email=person.email, preferred_language=person.preferred_language,
        with_whom=body.with_whom,
    ), subject=row.id, agency=case.agency_id)
    return row


def list_appointments(session: Session, case_id: str) -> list[AppointmentRecord]:
    return list(session.scalars(select(AppointmentRecord).where(AppointmentRecord.case_id == case_id)
                                .order_by(AppointmentRecord.starts_at, AppointmentRecord.id)))
