"""Endpoints: cases, their participants, transitions to an outcome and (re)assignment."""

from __future__ import annotations

from services.casework.api.base import (
    IF_MATCH,
    RECORD_READERS,
    SUPERVISORS,
    WHOLE_AGENCY,
    WRITERS,
    CaseworkBase,
)
from services.casework.domain import lifecycle
from services.casework.models import CaseRecord
from services.casework.schemas import (
    AssignmentIn,
    AssignmentOut,
    CaseListQuery,
    CaseOut,
    CaseSummary,
    ParticipantOut,
    TransitionIn,
)
from services.casework.usecases import assignment, cases
from services.casework.usecases.common import utcnow
from shared.http import ApiResponse, Call, UnprocessableContent, api
from shared.http.concurrency import etag
from shared.http.pagination import Page


class CaseEndpoints(CaseworkBase):
    @api("GET", "/v1/cases", person_data=True,
         roles=RECORD_READERS, query=CaseListQuery, response=Page[CaseSummary], tags=["cases"],
         summary="Cases of the agency (a case manager sees their caseload); ?status=pending_assignment is "
                 "the supervisor's queue")
    def list_cases(self, call: Call[None, CaseListQuery]) -> Page[CaseSummary]:
        query = call.query
        sealed_too = self._list_sealed(call)
        items, next_cursor = cases.list_cases(self.db, call, query, include_sealed=sealed_too,
                                              whole_agency=bool(self._roles(call) & WHOLE_AGENCY) or sealed_too)
        if sealed_too:
            self.audit.record_now(call, "sealed_record.opened", "case", None,
                                  detail={"legal_basis": call.legal_basis})
        self.audit.record_now(call, "case.listed", "case", None, detail={"ids": [i.id for i in items]})
        return Page[CaseSummary](items=items, next_cursor=next_cursor)

    def _case_out(self, row: CaseRecord) -> ApiResponse:
        return ApiResponse(cases.case_out(self.db, row), headers={"ETag": etag(row.id, row.version)})

    @api("GET", "/v1/cases/<id>", person_data=True, roles=RECORD_READERS, response=CaseOut, tags=["cases"],
         summary="One case with the participant's record (the read is audited)")
    def get_case(self, call: Call, id: str) -> ApiResponse:
        row = self._case(call, id)
        self.audit.record_now(call, "case.read", "case", row.id, detail={"participant_id": row.participant_id})
        return self._case_out(row)

    @api("GET", "/v1/participants/<id>", person_data=True,
         roles=RECORD_READERS, response=ParticipantOut, tags=["cases"],
         summary="A participant's minimum record, with its ETag (the read is audited)")
    def get_participant(self, call: Call, id: str) -> ApiResponse:
        person = self._participant(call, id)
        self.audit.record_now(call, "participant.read", "participant", person.id)
        return ApiResponse(ParticipantOut.model_validate(person), headers={"ETag": etag(person.id, person.version)})

    @api("POST", "/v1/cases/<id>/transitions", roles=WRITERS, body=TransitionIn, response=CaseOut,
         required_headers=IF_MATCH, errors=[409, 412, 428], tags=["cases"],
         summary="Extend, complete, terminate (return to prosecution) or withdraw a case")
    def transition_case(self, call: Call[TransitionIn], id: str) -> ApiResponse:
        row = self._case(call, id, write=True)
        self._match(call, etag(row.id, row.version))
        body = call.body
        try:  # the domain's refusals are problems by service.py's table (invalid-transition, override-required, ...)
            waived = cases.transition_case(self.db, self._emit, row, body, actor=self._actor(call), now=utcnow())
        except lifecycle.OverrideNotPermitted:
            self.audit.record_now(call, "case.override", "case", row.id, outcome="denied")
            raise
        except ValueError as exc:  # the domain's checks of an extension's months or date
            raise UnprocessableContent(str(exc), slug="invalid-transition-request") from None
        self.audit.record(call, f"case.{body.action}", "case", row.id,
                          detail={"state": row.state, "override": bool(row.override), "waived_conditions": waived})
        for condition_id in waived:  # each waiver is its own audited fact (its free-text reason is in its history)
            self.audit.record(call, "condition.waived", "condition", condition_id,
                              detail={"case_id": row.id, "at_completion": True})
        self._commit()
        return self._case_out(row)

    @api("POST", "/v1/cases/<id>/assignment", roles=SUPERVISORS, body=AssignmentIn, response=CaseOut,
         required_headers=IF_MATCH, errors=[409, 412, 428], tags=["cases"],
         summary="Assign or reassign the case manager (supervisor); history is kept")
    def assign_case(self, call: Call[AssignmentIn], id: str) -> ApiResponse:
        row = self._case(call, id, write=True)
        self._match(call, etag(row.id, row.version))
        body = call.body
        previous = row.case_manager_id
        assignment.assign_manually(self.db, self._emit, row, body.case_manager_id, actor=self._actor(call),
                                   reason=body.reason, allow_over_cap=body.allow_over_cap, now=utcnow())
        self.audit.record(call, "case.assigned", "case", row.id,
                          detail={"case_manager_id": row.case_manager_id, "previous_case_manager_id": previous})
        self._commit()
        return self._case_out(row)

    @api("GET", "/v1/cases/<id>/assignments", person_data=True,
         roles=RECORD_READERS, response=list[AssignmentOut], tags=["cases"],
         summary="Assignment history of a case, oldest first")
    def list_assignments(self, call: Call, id: str) -> list[AssignmentOut]:
        row = self._case(call, id)
        out = [AssignmentOut.model_validate(item) for item in assignment.assignment_history(self.db, row.id)]
        self.audit.record_now(call, "assignment.read", "case", row.id)
        return out
