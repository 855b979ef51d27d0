"""Incidents of a case and the graduated responses taken."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.casework.domain import supervision
from services.casework.mapping import incident_domain
from services.casework.models import CaseRecord, IncidentRecord
from services.casework.schemas import IncidentIn
from services.casework.usecases.common import require_open


def add_incident(session: Session, case: CaseRecord, body: IncidentIn, *, by: str, now: datetime) -> IncidentRecord:
    """Record it with the response taken (default: the next step the domain suggests)."""
    require_open(case)
    prior = [incident_domain(r) for r in session.scalars(select(IncidentRecord)
                                                          .where(IncidentRecord.case_id == case.id))]
    suggested = supervision.suggest_response(body.kind, prior)
    row = IncidentRecord(id=str(uuid.uuid4()), agency_id=case.agency_id, case_id=case.id, kind=body.kind.value,
                         occurred_on=body.occurred_on, description=body.description,
                         response=(body.response or suggested).value, suggested_response=suggested.value,
                         responded_by=by, contact_id=body.contact_id, created_at=now)
    session.add(row)
    return row


def list_incidents(session: Session, case_id: str) -> list[IncidentRecord]:
    return list(session.scalars(select(IncidentRecord).where(IncidentRecord.case_id == case_id)
                                .order_by(IncidentRecord.occurred_on, IncidentRecord.created_at)))
