"""intake: referrals in, screenings explained, the prosecutor's decision out (as events)."""

from __future__ import annotations

from sqlalchemy import select

from services.intake.models import Program
from services.intake.schemas import ProgramOut
from shared.db import Database
from shared.http import Call, api
from shared.service import ServiceBase

READ_ROLES = {"screener", "supervisor", "auditor", "case_manager", "admin"}


class IntakeService(ServiceBase):
    """Referral intake and eligibility screening for pretrial diversion programs."""

    name = "intake"
    db = Database()

    @api("GET", "/v1/programs", roles=READ_ROLES, response=list[ProgramOut], tags=["programs"],
         summary="The caller's agency programs")
    def list_programs(self, call: Call) -> list[ProgramOut]:
        programs = self.db.scalars(
            select(Program).where(Program.agency_id == call.agency).order_by(Program.slug)
        ).all()
        return [ProgramOut.model_validate(program) for program in programs]
