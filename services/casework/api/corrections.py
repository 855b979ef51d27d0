"""Endpoints: corrections of staff (PATCH, history), the reassignment queue, and the case timeline."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from services.casework.api.base import IF_MATCH, RECORD_READERS, CaseworkBase
from services.casework.domain.corrections import visible
from services.casework.schemas import StaffOut
from services.casework.schemas_corrections import ChangeOut, ReassignmentItem, StaffPatch, TimelineEntry
from services.casework.usecases import corrections, reassignment, staff, timeline
from services.casework.usecases.common import utcnow
from shared.http import ApiResponse, Call, Conflict, api
from shared.http.concurrency import etag
from shared.http.pagination import Page, PageQuery

STAFF_EDITORS = {"supervisor", "admin"}


class CorrectionEndpoints(CaseworkBase):
    @api("PATCH", "/v1/staff/<id>", roles=STAFF_EDITORS, body=StaffPatch, response=StaffOut,
         required_headers=IF_MATCH, errors=[409, 412, 428], tags=["staff"],
         summary="Correct a staff member (active, caseload cap, programs, contact); deactivating a case manager "
                 "puts their open cases in the reassignment queue")
    def patch_staff(self, call: Call[StaffPatch], id: str) -> ApiResponse:
        member = staff.get_staff(self.db, call.agency, id, lock=True)
        self._match(call, etag(member.id, member.version))
        try:
            changes = corrections.patch_staff(self.db, self._emit, member, call.body, actor=call.actor,
                                              now=utcnow())
        except IntegrityError:
            self.db.rollback()
            raise Conflict("a staff member with this email already exists in your agency") from None
        detail: dict[str, object] = {"fields": [c.field for c in changes], "version": member.version}
        if any(c.field == "active" for c in changes) and not member.active:
            detail["queued_for_reassignment"] = reassignment.waiting_for(self.db, call.agency, member.id)
        self.audit.record(call, "staff.updated", "staff", member.id, detail=detail)
        self._commit()
        return ApiResponse(StaffOut.model_validate(member), headers={"ETag": etag(member.id, member.version)})

    @api("GET", "/v1/staff/<id>/history", roles={"supervisor", "case_manager", "admin"}, response=list[ChangeOut],
         tags=["staff"], summary="Corrections of a staff member, oldest first; values only for supervisors, "
                                 "admins and the person themselves")
    def staff_history(self, call: Call, id: str) -> list[ChangeOut]:
        member = staff.get_staff(self.db, call.agency, id)
        may_see = bool(self._roles(call) & STAFF_EDITORS) or member.subject == call.actor
        out = [ChangeOut.model_validate(visible(change, may_see_values=may_see).model_dump())
               for change in corrections.history(self.db, call.agency, "staff", member.id)]
        self.audit.record_now(call, "staff.history_read", "staff", member.id)
        return out

    @api("GET", "/v1/reassignment-queue", person_data=True, roles={"supervisor", "admin"}, query=PageQuery,
         response=Page[ReassignmentItem], tags=["cases"],
         summary="Open cases whose case manager was deactivated, waiting for a supervisor to reassign them")
    def reassignment_queue(self, call: Call[None, PageQuery]) -> Page[ReassignmentItem]:
        items, next_cursor = reassignment.queue(self.db, call)
        self.audit.record_now(call, "reassignment_queue.read", "case", None,
                              detail={"ids": [item.case_id for item in items]})
        return Page[ReassignmentItem](items=items, next_cursor=next_cursor)

    @api("GET", "/v1/cases/<id>/timeline", person_data=True, roles=RECORD_READERS, query=PageQuery,
         response=Page[TimelineEntry], tags=["cases"],
         summary="Everything that happened on a case, oldest first (assignment, plan versions, contacts, "
                 "appointments, incidents, ...); the read is audited")
    def case_timeline(self, call: Call[None, PageQuery], id: str) -> Page[TimelineEntry]:
        row = self._case(call, id)
        items, next_cursor = timeline.timeline(self.db, call, row)
        self.audit.record_now(call, "case.timeline_read", "case", row.id,
                              detail={"participant_id": row.participant_id,
                                      "ids": [item.id for item in items],
                                      "kinds": [item.kind for item in items]})
        return Page[TimelineEntry](items=items, next_cursor=next_cursor)
