"""casework: cases from accepted referrals to dismissal, with case managers, plans and consents."""

from __future__ import annotations

from sqlalchemy import select

from services.casework.models import Staff
from services.casework.schemas import StaffOut
from shared.db import Database
from shared.http import Call, api
from shared.service import ServiceBase


class CaseworkService(ServiceBase):
    """Case management for diversion participants: staff, cases, plans, consents and outcomes."""

    name = "casework"
    db = Database()

    @api("GET", "/v1/staff", roles={"supervisor", "case_manager", "admin"}, response=list[StaffOut],
         tags=["staff"], summary="Case managers and supervisors of the caller's agency")
    def list_staff(self, call: Call) -> list[StaffOut]:
        staff = self.db.scalars(select(Staff).where(Staff.agency_id == call.agency).order_by(Staff.name)).all()
        return [StaffOut.model_validate(member) for member in staff]
