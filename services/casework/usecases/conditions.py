"""Program conditions of a case and the progress recorded on them."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.casework.domain import supervision
from services.casework.mapping import condition_domain, condition_row
from services.casework.models import CaseRecord, ConditionRecord
from services.casework.schemas import ConditionIn
from services.casework.usecases.common import Missing


def add_condition(session: Session, case: CaseRecord, body: ConditionIn, *, now: datetime) -> ConditionRecord:
    """A new condition (pydantic's ValidationError when its kind and amount do not fit together)."""
    domain = supervision.Condition(id=str(uuid.uuid4()), case_id=case.id, kind=body.kind,
                                   description=body.description, unit=body.unit,
                                   required_amount=body.required_amount)
    row = condition_row(domain, case.agency_id, now)
    session.add(row)
    return row


def list_conditions(session: Session, case_id: str) -> list[ConditionRecord]:
    return list(session.scalars(select(ConditionRecord).where(ConditionRecord.case_id == case_id)
                                .order_by(ConditionRecord.created_at, ConditionRecord.id)))


def condition_of(session: Session, case: CaseRecord, condition_id: str) -> ConditionRecord:
    row = session.scalar(select(ConditionRecord).where(
        ConditionRecord.agency_id == case.agency_id, ConditionRecord.case_id == case.id,
        ConditionRecord.id == condition_id).with_for_update())
    if row is None:
        raise Missing("no such condition")
    return row


def change_condition(row: ConditionRecord,
                     change: Callable[[supervision.Condition], supervision.Condition]) -> None:
    """Apply a domain change (its ConditionProgressError propagates) and bump the version."""
    changed = change(condition_domain(row))
    row.completed_amount, row.met, row.met_on = changed.completed_amount, changed.met, changed.met_on
    row.version += 1
