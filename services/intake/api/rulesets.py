"""Endpoints: the agency's programs and ruleset packs, and the what-if replay of a pack."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from services.intake.api.base import (
    READ_ROLES,
    REPORT_READERS,
    IntakeBase,
    utcnow,
)
from services.intake.domain.replay import ReplayReport
from services.intake.domain.ruleset import Ruleset
from services.intake.schemas import (
    ProgramOut,
    ReplayIn,
    RulesetIn,
    RulesetOut,
)
from services.intake.usecases import replay as what_if
from services.intake.usecases import rulesets
from shared.http import Call, api
from shared.http.api import ApiResponse
from shared.http.problems import (
    Conflict,
    NotFound,
    UnprocessableContent,
)


class RulesetEndpoints(IntakeBase):

    @api("GET", "/v1/programs", roles=READ_ROLES, response=list[ProgramOut], tags=["programs"],
         summary="The caller's agency programs")
    def list_programs(self, call: Call) -> list[ProgramOut]:
        return rulesets.list_programs(self.db, call.agency)

    @api("GET", "/v1/ruleset", roles=READ_ROLES, response=RulesetOut, tags=["rulesets"], errors=[409],
         summary="The ruleset pack new screenings use (installed, else bundled for the agency)")
    def get_ruleset(self, call: Call) -> RulesetOut:
        ruleset, source = rulesets.current_ruleset(self.db, call.agency)
        return _ruleset_out(ruleset, source)

    @api("POST", "/v1/rulesets", roles={"admin"}, body=RulesetIn, response=RulesetOut, status=201,
         tags=["rulesets"], errors=[409],
         summary="Install a new version of the agency's ruleset pack (new screenings use it)")
    def install_ruleset(self, call: Call[RulesetIn]) -> ApiResponse:
        ruleset, fresh = rulesets.install_ruleset(self.db, call.agency, call.body, call.actor, utcnow())
        if fresh:
            self.audit.record(call, "ruleset.installed", "ruleset", ruleset.version,
                              detail={"content_hash": ruleset.content_hash})
        try:
            self.db.commit()
        except IntegrityError:
            self.db.rollback()
            raise Conflict("this version was installed at the same moment; read GET /v1/ruleset") from None
        return ApiResponse(_ruleset_out(ruleset, "installed"), status=201 if fresh else 200)

    @api("POST", "/v1/rulesets/<version>/replay", roles=REPORT_READERS | {"admin"}, body=ReplayIn,
         response=ReplayReport, errors=[404], tags=["rulesets"],
         summary="What-if: screen the referrals received in a date range under this pack version and report, per "
                 "program and by race, ethnicity, sex and age band (small cells and their complements suppressed), "
                 "how many would change status and in which direction; nothing is changed")
    def replay_ruleset(self, call: Call[ReplayIn], version: str) -> ReplayReport:
        body = call.body
        if len(version) > 64:
            raise NotFound("no such ruleset pack version")
        if body.from_ > body.to:
            raise UnprocessableContent("`from` is after `to`", slug="invalid-query",
                                       errors=[{"field": "from", "message": "after `to`", "type": "value_error"}])
        try:
            report = what_if.replay(self.db, call.agency, version, body.from_, body.to)
        finally:
            self.db.rollback()  # read only, whatever happened
        self.audit.record_now(call, "ruleset.replayed", "ruleset", version, detail={
            "from": body.from_.isoformat(), "to": body.to.isoformat(), "referrals": report.referrals,
            "changed_referrals": report.changed_referrals})
        return report



def _ruleset_out(ruleset: Ruleset, source: str) -> RulesetOut:
    return RulesetOut(agency=ruleset.agency, name=ruleset.name, version=ruleset.version,
                      content_hash=ruleset.content_hash, source=source,
                      programs=[p.id for p in ruleset.programs], decline_reasons=dict(ruleset.decline_reasons),
                      override_reasons=dict(ruleset.override_reasons),
                      deferral_reasons=dict(ruleset.deferral_reasons))

