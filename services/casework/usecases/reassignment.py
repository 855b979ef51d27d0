"""The supervisor's reassignment queue: open cases whose case manager was deactivated.

Nothing is copied: the queue is the open cases held by inactive staff, so a case leaves it the moment a
supervisor reassigns it (POST /v1/cases/{id}/assignment), and nobody new reaches an inactive case manager
because assignment only offers active staff (`domain.assignment.staff_loads`, `usecases.assignment`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, false, select
from sqlalchemy.orm import Session

from services.casework.domain.lifecycle import OPEN_STATES, CaseState
from services.casework.models import CaseRecord, Staff
from services.casework.schemas_corrections import ReassignmentItem
from shared.http import Call
from shared.http.pagination import paginate
from shared.records import unsealed


def _waiting(agency: str) -> Select[Any]:
    return (select(CaseRecord.id, CaseRecord.case_number, CaseRecord.program_id, CaseRecord.state,
                   CaseRecord.case_manager_id, Staff.name, Staff.deactivated_at)
            .join(Staff, Staff.id == CaseRecord.case_manager_id)
            .where(CaseRecord.agency_id == agency, Staff.agency_id == agency, Staff.active == false(),
                   CaseRecord.state.in_([s.value for s in OPEN_STATES]), unsealed(CaseRecord.id, agency, "case")))


def queue(session: Session, call: Call) -> tuple[list[ReassignmentItem], str | None]:
    rows, next_cursor = paginate(session, call, _waiting(call.agency), order=(CaseRecord.id,),
                                 key=lambda row: (row["id"],), scalars=False)
    return [ReassignmentItem(case_id=row["id"], case_number=row["case_number"], program_id=row["program_id"],
                             state=CaseState(row["state"]), case_manager_id=row["case_manager_id"],
                             case_manager_name=row["name"], waiting_since=row["deactivated_at"])
            for row in rows], next_cursor


def waiting_for(session: Session, agency: str, staff_id: str) -> list[str]:
    """The open cases of one (deactivated) staff member: what joined the queue when they left."""
    return list(session.scalars(select(CaseRecord.id).where(
        CaseRecord.agency_id == agency, CaseRecord.case_manager_id == staff_id,
        CaseRecord.state.in_([s.value for s in OPEN_STATES])).order_by(CaseRecord.id)))

