"""casework: cases from accepted referrals to dismissal, with case managers, plans and consents."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from services.casework.models import Staff
from services.casework.schemas import StaffIn, StaffOut
from shared.audit import write_audit
from shared.db import Database
from shared.http import Call, Conflict, NotFound, api
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

    @api("POST", "/v1/staff", roles={"supervisor", "admin"}, body=StaffIn, response=StaffOut, status=201,
         errors=[409], tags=["staff"], summary="Add a case manager or supervisor to the caller's agency")
    def add_staff(self, call: Call) -> StaffOut:
        body: StaffIn = call.body
        member = Staff(id=str(uuid.uuid4()), agency_id=call.agency, name=body.name, email=str(body.email).lower(),
                       role=body.role, programs=body.programs, caseload_cap=body.caseload_cap, active=True)
        self.db.add(member)
        write_audit(self.db, service=self.name, action="staff.created", outcome="success",
                    identity=call.identity, resource_type="staff", resource_id=member.id,
                    source_ip=call.remote_addr, request_id=call.request_id, detail=None)
        try:
            self.db.commit()
        except IntegrityError:
            self.db.rollback()
            raise Conflict("a staff member with this email already exists in your agency") from None
        return StaffOut.model_validate(member)

    @api("GET", "/v1/staff/<id>", roles={"supervisor", "case_manager", "admin"}, response=StaffOut,
         tags=["staff"], summary="One staff member of the caller's agency")
    def get_staff(self, call: Call, id: str) -> StaffOut:
        member = self.db.scalar(select(Staff).where(Staff.agency_id == call.agency, Staff.id == id))
        if member is None:
            raise NotFound("no such staff member")
        return StaffOut.model_validate(member)
