"""Endpoints: needs assessments and the versioned support plan of a case."""

from __future__ import annotations

from pydantic import ValidationError

from services.casework.api.base import IDEMPOTENT, IF_MATCH, RECORD_READERS, WRITERS, CaseworkBase
from services.casework.domain import lifecycle, plan
from services.casework.mapping import assessment_out, plan_out
from services.casework.schemas import AssessmentIn, AssessmentOut, PlanChangeIn, PlanOut
from services.casework.usecases import plans
from services.casework.usecases.common import utcnow
from shared.http import ApiResponse, Call, Conflict, NotFound, UnprocessableContent, api
from shared.http.concurrency import etag
from shared.idempotency import replay


def _plan_etag(case_id: str, version: int) -> str:
    return etag(f"plan-{case_id}", version)


class PlanEndpoints(CaseworkBase):
    @api("POST", "/v1/cases/<id>/assessments", roles=WRITERS, body=AssessmentIn, response=AssessmentOut,
         status=201, headers=IDEMPOTENT, errors=[412], tags=["plan"],
         summary="Record a needs assessment (each one is the case's next assessment version); the plan gets a "
                 "proposed goal, from the agency's templates, for each priority domain without one")
    def add_assessment(self, call: Call[AssessmentIn], id: str) -> ApiResponse:
        row = self._case(call, id, write=True)
        scope = f"assessment:{row.id}"
        if (again := replay(self.db, call, scope)) is not None:
            return again
        body = call.body
        try:
            record = plans.add_assessment(self.db, row, body, by=call.actor, now=utcnow())
        except ValidationError as exc:
            raise UnprocessableContent("the assessment is invalid",
                                       errors=[{"field": "domains", "message": str(e["msg"]), "type": e["type"]}
                                               for e in exc.errors()]) from None
        self.db.flush()
        proposed = plans.propose_goals(self.db, self._emit, row, record, utcnow())
        self.audit.record(call, "assessment.created", "case", row.id, detail={
            "version": record.version, "plan_version": proposed.version if proposed else None})
        return self._created(call, scope, assessment_out(record))

    @api("GET", "/v1/cases/<id>/assessments", person_data=True,
         roles=RECORD_READERS, response=list[AssessmentOut], tags=["plan"],
         summary="Every assessment of a case, newest first (the read is audited)")
    def list_assessments(self, call: Call, id: str) -> list[AssessmentOut]:
        row = self._case(call, id)
        out = [assessment_out(r) for r in plans.list_assessments(self.db, row.id)]
        self.audit.record_now(call, "assessment.read", "case", row.id, detail={"ids": [a.id for a in out]})
        return out

    @api("GET", "/v1/cases/<id>/plan", person_data=True, roles=RECORD_READERS, response=PlanOut, tags=["plan"],
         summary="The current support plan, with its ETag (the read is audited)")
    def get_plan(self, call: Call, id: str) -> ApiResponse:
        row = self._case(call, id)
        self.audit.record_now(call, "plan.read", "case", row.id)
        current = plans.current_plan(self.db, row)
        return ApiResponse(plan_out(current, plans.latest_priorities(self.db, row.id)),
                           headers={"ETag": _plan_etag(row.id, current.version)})

    @api("GET", "/v1/cases/<id>/plan/versions/<int:version>", person_data=True,
         roles=RECORD_READERS, response=PlanOut, tags=["plan"],
         summary="One earlier version of the support plan")
    def get_plan_version(self, call: Call, id: str, version: int) -> PlanOut:
        row = self._case(call, id)
        earlier = plans.plan_version(self.db, row.id, version)
        self.audit.record_now(call, "plan.read", "case", row.id, detail={"version": version})
        return plan_out(earlier, plans.latest_priorities(self.db, row.id))

    @api("POST", "/v1/cases/<id>/plan/changes", roles=WRITERS, body=PlanChangeIn, response=PlanOut,
         required_headers=IF_MATCH, errors=[409, 412, 428], tags=["plan"],
         summary="Change the support plan (add a goal or task, set a goal's status, complete a task, link a "
                 "service referral); saves the next version")
    def change_plan(self, call: Call[PlanChangeIn], id: str) -> ApiResponse:
        row = self._case(call, id, write=True)
        current = plans.current_plan(self.db, row)
        self._match(call, _plan_etag(row.id, current.version))
        lifecycle.require_open(lifecycle.CaseState(row.state), what="its plan is closed")  # 409 case-closed
        body = call.body
        try:
            revision = plans.revise_plan(current, body, on=utcnow().date(), by=call.actor,
                                         assessed=plans.assessed_domains(self.db, row.id))
        except plan.GoalNotFound as exc:
            raise NotFound(str(exc)) from None
        except ValueError as exc:
            raise Conflict(str(exc)) from None
        saved = plans.save_plan_revision(self.db, self._emit, row, revision, utcnow())
        self.audit.record(call, f"plan.{body.op}", "case", row.id, detail={"version": saved.version})
        self._commit()
        return ApiResponse(plan_out(saved, plans.latest_priorities(self.db, row.id)),
                           headers={"ETag": _plan_etag(row.id, saved.version)})
