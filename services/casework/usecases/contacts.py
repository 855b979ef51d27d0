"""Contacts and check-ins of a case."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.casework.domain import supervision
from services.casework.mapping import contact_from_row
from services.casework.models import CaseRecord, ContactRecord
from services.casework.schemas import ContactIn, ContactOutcomeIn
from services.casework.usecases.common import Missing, require_open


def add_contact(session: Session, case: CaseRecord, body: ContactIn) -> ContactRecord:
    require_open(case)
    when = body.scheduled_for.astimezone(UTC)
    row = ContactRecord(id=str(uuid.uuid4()), agency_id=case.agency_id, case_id=case.id, kind=body.kind.value,
                        scheduled_for=when, status=body.status,
                        completed_at=when if body.status == "completed" else None, notes=body.notes, version=1)
    session.add(row)
    return row


def list_contacts(session: Session, case_id: str) -> list[ContactRecord]:
    return list(session.scalars(select(ContactRecord).where(ContactRecord.case_id == case_id)
                                .order_by(ContactRecord.scheduled_for, ContactRecord.id)))


def contact_of(session: Session, case: CaseRecord, contact_id: str) -> ContactRecord:
    row = session.scalar(select(ContactRecord).where(
        ContactRecord.case_id == case.id, ContactRecord.id == contact_id).with_for_update())
    if row is None:
        raise Missing("no such contact")
    return row


def record_outcome(row: ContactRecord, body: ContactOutcomeIn, *, now: datetime) -> None:
    """Settle a scheduled contact (the domain's ContactAlreadySettled when it was settled before)."""
    settled = supervision.settle_contact(contact_from_row(row), supervision.ContactStatus(body.status),
                                         notes=body.notes, completed_at=body.completed_at, now=now)
    row.status, row.notes, row.completed_at = settled.status.value, settled.notes, settled.completed_at
    row.version += 1
