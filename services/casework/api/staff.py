"""Endpoints: staff of the agency and the agency's casework settings."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from services.casework.api.base import IF_MATCH, CaseworkBase
from services.casework.domain.assignment import load_strategies
from services.casework.schemas import AgencySettingsIn, AgencySettingsOut, StaffIn, StaffOut
from services.casework.usecases import assignment, staff, staff_events
from services.casework.usecases.common import utcnow
from shared.http import ApiResponse, Call, Conflict, UnprocessableContent, api
from shared.http.concurrency import etag


class StaffEndpoints(CaseworkBase):
    @api("GET", "/v1/staff", roles={"supervisor", "case_manager", "admin"}, response=list[StaffOut],
         tags=["staff"], summary="Case managers and supervisors of the caller's agency")
    def list_staff(self, call: Call) -> list[StaffOut]:
        return [StaffOut.model_validate(member) for member in staff.list_staff(self.db, call.agency)]

    @api("POST", "/v1/staff", roles={"supervisor", "admin"}, body=StaffIn, response=StaffOut, status=201,
         errors=[409], tags=["staff"], summary="Add a case manager or supervisor to the caller's agency")
    def add_staff(self, call: Call[StaffIn]) -> ApiResponse:
        body = call.body
        member = staff.add_staff(self.db, call.agency, body)
        self.audit.record(call, "staff.created", "staff", member.id)
        try:
            staff_events.staff_registered(self.db, self._emit, member)  # notifications learns the contact
            self.db.commit()
        except IntegrityError:
            self.db.rollback()
            raise Conflict("a staff member with this email already exists in your agency") from None
        return ApiResponse(StaffOut.model_validate(member), status=201,
                           headers={"ETag": etag(member.id, member.version)})

    @api("GET", "/v1/staff/<id>", roles={"supervisor", "case_manager", "admin"}, response=StaffOut,
         tags=["staff"], summary="One staff member of the caller's agency, with its ETag")
    def get_staff(self, call: Call, id: str) -> ApiResponse:
        member = staff.get_staff(self.db, call.agency, id)
        return ApiResponse(StaffOut.model_validate(member), headers={"ETag": etag(member.id, member.version)})

    def _agency_settings(self, agency: str) -> tuple[AgencySettingsOut, str]:
        config = staff.agency_config(self.db, agency)
        version = config.version if config else 0
        out = AgencySettingsOut(assignment_strategy=assignment.strategy_name_for(self.db, agency, self.settings),
                                installed_strategies=sorted(load_strategies()), version=version)
        return out, etag(f"settings-{agency}", version)

    @api("GET", "/v1/settings", roles={"supervisor", "admin"}, response=AgencySettingsOut, tags=["staff"],
         summary="The agency's casework settings (assignment strategy), with its ETag")
    def get_settings(self, call: Call) -> ApiResponse:
        out, tag = self._agency_settings(call.agency)
        return ApiResponse(out, headers={"ETag": tag})

    @api("PUT", "/v1/settings", roles={"supervisor", "admin"}, body=AgencySettingsIn, response=AgencySettingsOut,
         required_headers=IF_MATCH, errors=[412, 428], tags=["staff"],
         summary="Choose the agency's assignment strategy (a `diversion.assignment` plugin)")
    def put_settings(self, call: Call[AgencySettingsIn]) -> ApiResponse:
        body = call.body
        if body.assignment_strategy not in load_strategies():
            raise UnprocessableContent(
                f"no assignment strategy {body.assignment_strategy!r} is installed",
                errors=[{"field": "assignment_strategy", "message": "not installed", "type": "value_error"}])
        config = staff.agency_config(self.db, call.agency, lock=True)
        self._match(call, etag(f"settings-{call.agency}", config.version if config else 0))
        staff.set_assignment_strategy(self.db, call.agency, config, body.assignment_strategy, actor=call.actor,
                                      now=utcnow())
        self.audit.record(call, "settings.changed", "agency_config", call.agency, detail={"assignment_strategy":
                                                                              body.assignment_strategy})
        self._commit()
        out, tag = self._agency_settings(call.agency)
        return ApiResponse(out, headers={"ETag": tag})
