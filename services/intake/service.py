"""intake: referrals in, screenings explained, the prosecutor's decision out (as events)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from nameko.extensions import DependencyProvider
from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response

from services.intake import export
from services.intake import handlers as h
from services.intake import replay as what_if
from services.intake import review as queue
from services.intake.domain import decisions as rules
from services.intake.domain import review as review_rules
from services.intake.domain.replay import ReplayReport
from services.intake.domain.report import build_report, render_csv
from services.intake.domain.ruleset import Ruleset
from services.intake.models import Program, ReferralRow
from services.intake.schemas import (
    BatchIn,
    BatchOut,
    DecisionIn,
    ExportQuery,
    JudgementIn,
    PersonName,
    ProgramOut,
    ReferralOut,
    ReferralQuery,
    ReferralSubmission,
    ReferralSummary,
    ReplayIn,
    ReportQuery,
    RulesetIn,
    RulesetOut,
    ScreeningReportOut,
)
from shared.auth import Identity, load_or_create_secret
from shared.db import Database
from shared.extensions import Auditor, ContextData, OwnSettings, settings_timer
from shared.http import Call, api
from shared.http.api import ApiResponse
from shared.http.concurrency import etag, require_if_match
from shared.http.pagination import Page, Pager
from shared.http.problems import (
    Conflict,
    Forbidden,
    NotFound,
    PreconditionFailed,
    UnprocessableContent,
    register_problem,
)
from shared.idempotency import remember, replay
from shared.messaging import CloudEvent, Outbox, reliable_handler
from shared.messaging.catalog import CaseCompleted, CaseOpened, CaseTerminated, CaseWithdrawn
from shared.service import ServiceBase

READ_ROLES = {"screener", "supervisor", "auditor", "case_manager", "admin"}
REFERRAL_READERS = {"screener", "supervisor", "auditor"}
DECIDERS = {"screener", "supervisor"}
REPORT_READERS = {"supervisor", "auditor"}
BATCH_BODY_LIMIT = 8 * 1_048_576

register_problem(h.NoRulesetConfigured, 409, "no-ruleset-configured", "No ruleset configured")
register_problem(h.InvalidRuleset, 422, "invalid-ruleset", "The ruleset pack is invalid")
register_problem(h.RulesetVersionTaken, 409, "ruleset-version-taken", "Ruleset version already installed")
register_problem(h.ExternalIdTaken, 409, "external-id-taken", "A referral with this external_id exists")
register_problem(h.RulesetVersionMissing, 409, "ruleset-version-missing", "The ruleset pack version is not installed")
register_problem(review_rules.NothingToJudge, 409, "nothing-to-judge", "Nothing awaits this judgement")
register_problem(what_if.RulesetVersionNotFound, 404, "ruleset-version-not-found", "No such ruleset pack version")
register_problem(rules.InvalidTransition, 409, "invalid-transition", "Not allowed in the referral's status")
register_problem(rules.OverrideRequired, 409, "override-required", "The program needs a supervisor override")
register_problem(rules.OverrideNotPermitted, 403, "override-not-permitted", "Only a supervisor may override")
register_problem(rules.DecisionNotPermitted, 403, "decision-not-permitted", "Not allowed to decide")
register_problem(rules.UnknownReasonCode, 422, "unknown-reason-code", "Unknown reason code")
register_problem(rules.InvalidDecision, 422, "invalid-decision", "The decision is invalid")


class IntakeSettings(BaseSettings):
    """intake's own settings (`DIVERSION_INTAKE_*`)."""

    model_config = SettingsConfigDict(env_prefix="DIVERSION_INTAKE_", extra="ignore")

    review_interval_seconds: float = Field(
        default=60.0, gt=0, le=86_400,
        description="how often deferrals and eligibility dates that have come are put back in the review queue")
    review_batch: int = Field(default=200, ge=1, le=5_000, description="referrals returned per pass at most")
    export_key: str | None = Field(
        default=None, min_length=32, repr=False,
        description="key of the research export's keyed hashes (default: derived from the suite's JWT secret)")


SETTINGS_CLASS = IntakeSettings


class Clock(DependencyProvider):
    """Today and now for the review timer; a test sets `fixed` to move the day."""

    def setup(self) -> None:
        self.fixed: dt.datetime | None = None
        self.passes = 0  # review passes this instance has finished (tests wait on it instead of sleeping)

    def now(self) -> dt.datetime:
        return self.fixed or dt.datetime.now(dt.UTC)

    def get_dependency(self, worker_ctx: Any) -> Clock:
        return self


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class IntakeService(ServiceBase):
    """Referral intake and eligibility screening for pretrial diversion programs."""

    name = "intake"
    api_tags = {
        "programs": "The diversion programs of the caller's agency.",
        "referrals": "Referrals from the prosecutor's office: submission, screening against every program, decisions.",
        "reports": "Aggregate screening reports (small cells suppressed).",
        "rulesets": "The agency's eligibility ruleset packs that screenings use.",
    }
    db = Database()
    outbox = Outbox()
    event_context = ContextData()
    clock = Clock()
    settings = OwnSettings(IntakeSettings)
    audit = Auditor()

    # ------------------------------------------------------------ plumbing

    def _emit(self, event: CloudEvent) -> None:
        self.outbox.record(self.db, event)

    def _actor(self, call: Call) -> rules.Actor:
        return rules.Actor(subject=call.actor, roles=call.identity.roles if call.identity else frozenset())

    def _referral(self, call: Call, referral_id: str, *, for_update: bool = False) -> Any:
        row = h.get_referral(self.db, call.agency, referral_id, for_update=for_update) \
            if len(referral_id) <= 36 else None
        if row is None:
            raise NotFound("no such referral")
        return row

    def _detail(self, row: Any, status: int = 200) -> ApiResponse:
        out = ReferralOut.model_validate(h.referral_document(self.db, row))
        return ApiResponse(out, status=status, headers={"ETag": etag(row.id, row.version)})

    # ------------------------------------------------------------ rulesets and programs

    @api("GET", "/v1/programs", roles=READ_ROLES, response=list[ProgramOut], tags=["programs"],
         summary="The caller's agency programs")
    def list_programs(self, call: Call) -> list[ProgramOut]:
        programs = self.db.scalars(
            select(Program).where(Program.agency_id == call.agency).order_by(Program.slug)
        ).all()
        if not programs:
            # An agency screening under its bundled pack has no installed rows: show the pack's programs.
            bundled = h.bundled_ruleset(call.agency)
            if bundled is not None:
                return [ProgramOut(slug=p.id, name=p.name, description=p.description, min_months=p.min_months,
                                   max_months=p.max_months, ruleset_version=bundled.version)
                        for p in sorted(bundled.programs, key=lambda p: p.id)]
        return [ProgramOut.model_validate(program) for program in programs]

    @api("GET", "/v1/ruleset", roles=READ_ROLES, response=RulesetOut, tags=["rulesets"], errors=[409],
         summary="The ruleset pack new screenings use (installed, else bundled for the agency)")
    def get_ruleset(self, call: Call) -> RulesetOut:
        ruleset, source = h.current_ruleset(self.db, call.agency)
        return _ruleset_out(ruleset, source)

    @api("POST", "/v1/rulesets", roles={"admin"}, body=RulesetIn, response=RulesetOut, status=201,
         tags=["rulesets"], errors=[409],
         summary="Install a new version of the agency's ruleset pack (new screenings use it)")
    def install_ruleset(self, call: Call[RulesetIn]) -> ApiResponse:
        ruleset, fresh = h.install_ruleset(self.db, call.agency, call.body, call.actor, _now())
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

    # ------------------------------------------------------------ referrals

    @api("POST", "/v1/referrals", roles={"screener"}, body=ReferralSubmission, response=ReferralOut, status=201,
         headers=["Idempotency-Key"], errors=[409], tags=["referrals"],
         summary="Submit a referral; it is screened against every program of the agency's ruleset")
    def submit_referral(self, call: Call[ReferralSubmission]) -> ApiResponse:
        replayed = replay(self.db, call, "referrals.create")
        if replayed is not None:
            return replayed
        ruleset, _ = h.current_ruleset(self.db, call.agency)
        created = h.submit_referral(self.db, call.agency, call.body, ruleset, call.actor,
                                    today=dt.date.today(), now=_now())
        self.audit.record(call, "referral.created", "referral", created.id, detail=_created_detail(created))
        row = self._referral(call, created.id)
        response = self._detail(row, status=201)
        remember(self.db, call, "referrals.create", 201, response.body)
        try:
            self.db.commit()
        except IntegrityError:
            # The same Idempotency-Key or external_id committed at the same moment: answer like a retry.
            self.db.rollback()
            replayed = replay(self.db, call, "referrals.create")
            if replayed is not None:
                return replayed
            raise Conflict("a referral with this external_id was stored at the same moment") from None
        return response

    @api("POST", "/v1/referrals:batch", roles={"screener"}, body=BatchIn, response=BatchOut,
         max_body_bytes=BATCH_BODY_LIMIT, errors=[409], tags=["referrals"],
         summary="Submit up to 500 referrals; per-item results; an item already stored (external_id, else "
                 "case number + date of birth) is not created again")
    def submit_batch(self, call: Call) -> BatchOut:
        ruleset, _ = h.current_ruleset(self.db, call.agency)
        for attempt in (1, 2):
            out, created = h.import_batch(self.db, call.agency, call.body, ruleset, call.actor,
                                          today=dt.date.today(), now=_now())
            if created:
                # One row for the whole batch (naming every id): 500 single-row inserts cost more than the batch.
                self.audit.record(call, "referral.batch_created", "referral", None,
                                  detail={"ids": [made.id for made in created], "ruleset_version": ruleset.version})
            try:
                self.db.commit()
                return out
            except IntegrityError:
                # A concurrent run stored some of the same items first: the second pass finds them.
                self.db.rollback()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    @api("GET", "/v1/referrals", person_data=True,
         roles=REFERRAL_READERS, query=ReferralQuery, response=Page[ReferralSummary],
         tags=["referrals"], summary="Referrals of the agency, newest first (filter by status, program, dates)")
    def list_referrals(self, call: Call[None, ReferralQuery]) -> Page[ReferralSummary]:
        query = call.query
        if query.needs == "review":
            return self._review_queue(call, query)
        pager = Pager(call, ReferralRow.received_at.desc(), ReferralRow.id.desc())
        rows = h.list_referrals(self.db, call.agency, status=query.status, program=query.program,
                                received_from=query.received_from, received_to=query.received_to,
                                after=pager.after, limit=pager.fetch)
        page, next_cursor = pager.page(rows, key=lambda pair: (pair[0].received_at, pair[0].id))
        items = [_summary(r, d) for r, d in page]
        self.audit.record_now(call, "referral.listed", "referral", None, detail={"ids": [i.id for i in items]})
        return Page[ReferralSummary](items=items, next_cursor=next_cursor)

    def _review_queue(self, call: Call, query: ReferralQuery) -> Page[ReferralSummary]:
        if query.status not in (None, "screened") or query.received_from or query.received_to:
            raise UnprocessableContent("needs=review lists screened referrals in queue order; it takes only "
                                       "program, limit and cursor", slug="invalid-query",
                                       errors=[{"field": "needs", "message": "combined with a filter it ignores",
                                                "type": "value_error"}])
        pager = Pager(call, ReferralRow.review_since, ReferralRow.id)
        rows = h.list_review_queue(self.db, call.agency, program=query.program,
                                   after=pager.after, limit=pager.fetch)
        page, next_cursor = pager.page(rows, key=lambda pair: (pair[0].review_since, pair[0].id))
        items = [_summary(r, d) for r, d in page]
        self.audit.record_now(call, "referral.listed", "referral", None,
                              detail={"ids": [i.id for i in items], "needs": "review"})
        return Page[ReferralSummary](items=items, next_cursor=next_cursor)

    @api("GET", "/v1/referrals/<referral_id>", person_data=True,
         roles=REFERRAL_READERS, response=ReferralOut, tags=["referrals"],
         summary="A referral with its screenings, decisions, disposition and possible duplicates")
    def get_referral(self, call: Call, referral_id: str) -> ApiResponse:
        row = self._referral(call, referral_id)
        self.audit.record_now(call, "referral.read", "referral", row.id)
        return self._detail(row)

    @api("POST", "/v1/referrals/<referral_id>/rescreen", roles={"supervisor"}, response=ReferralOut,
         headers=["If-Match"], errors=[409, 412], tags=["referrals"],
         summary="Screen again under the agency's current pack; earlier screenings are kept")
    def rescreen_referral(self, call: Call, referral_id: str) -> ApiResponse:
        row = self._referral(call, referral_id, for_update=True)
        if call.if_match:
            require_if_match(call, etag(row.id, row.version))
        ruleset, _ = h.current_ruleset(self.db, call.agency)
        result = h.rescreen(self.db, row, ruleset, call.actor, today=dt.date.today(), now=_now())
        self.audit.record(call, "referral.rescreened", "referral", row.id,
                          detail={"ruleset_version": result.ruleset_version,
                                  "recommendation": result.recommendation.value})
        self.db.commit()
        return self._detail(row)

    @api("POST", "/v1/referrals/<referral_id>/decision", roles=DECIDERS, body=DecisionIn, response=ReferralOut,
         headers=["If-Match"], errors=[409, 412, 428], tags=["referrals"],
         summary="Accept (eligible programs; a supervisor may override), decline or defer; needs If-Match")
    def decide_referral(self, call: Call[DecisionIn], referral_id: str) -> ApiResponse:
        row = self._referral(call, referral_id, for_update=True)
        require_if_match(call, etag(row.id, row.version))
        decision = h.decide(self.db, self._emit, row, call.body, self._actor(call), today=dt.date.today(),
                            now=_now())
        detail: dict[str, Any] = {"program": decision.program, "reason_code": decision.reason_code}
        if decision.deferred_until:
            detail["deferred_until"] = decision.deferred_until.isoformat()
        self.audit.record(call, f"referral.{decision.status.value}", "referral", row.id, detail=detail)
        if decision.override:
            # A permission use of its own: the supervisor set the screening aside.
            self.audit.record(call, "referral.override", "referral", row.id,
                              detail={"program": decision.program, "reason_code": decision.reason_code})
        try:
            self.db.commit()
        except IntegrityError:
            self.db.rollback()
            raise PreconditionFailed("someone changed this referral at the same moment; read it again") from None
        return self._detail(row)

    @api("POST", "/v1/referrals/<referral_id>/judgements", roles=DECIDERS, body=JudgementIn, response=ReferralOut,
         status=201, headers=["If-Match"], errors=[409, 412], tags=["referrals"],
         summary="A screener's judgement on a program awaiting one (a new screening; the earlier one is kept) "
                 "or on a possible duplicate; the referral leaves the review queue when nothing else waits")
    def judge_referral(self, call: Call[JudgementIn], referral_id: str) -> ApiResponse:
        row = self._referral(call, referral_id, for_update=True)
        if call.if_match:
            require_if_match(call, etag(row.id, row.version))
        judgement = queue.record_judgement(self.db, row, call.body, self._actor(call), today=dt.date.today(),
                                           now=_now())
        self.audit.record(call, f"referral.judged.{judgement.kind}", "referral", row.id,
                          detail={"program": judgement.program, "outcome": judgement.outcome,
                     "screening_id": judgement.screening_id})
        try:
            self.db.commit()
        except IntegrityError:
            self.db.rollback()
            raise PreconditionFailed("someone changed this referral at the same moment; read it again") from None
        return self._detail(row, status=201)

    @settings_timer(IntakeSettings, "review_interval_seconds")
    def return_due_referrals(self) -> None:
        """Deferrals and eligibility dates that have come: back to the review queue, once across instances."""
        now = self.clock.now()
        returned = queue.return_due(self.db, self._emit, lambda agency: h.current_ruleset(self.db, agency)[0],
                                    today=now.date(), now=now, limit=self.settings.review_batch)
        for row in returned:
            self.audit.record_as(Identity(sub="service:intake", agency=row.agency_id, roles=frozenset({"screener"})),
                                 "referral.returned_for_review", "referral", row.id,
                                 detail={"review_reasons": h.review_state(row)["review_reasons"]})
        self.db.commit()
        self.clock.passes += 1

    # ------------------------------------------------------------ reports

    @api("GET", "/v1/reports/screening", roles=REPORT_READERS, query=ReportQuery, response=ScreeningReportOut,
         tags=["reports"], alternatives=["text/csv"],
         summary="Referred, screened eligible and accepted by program, race, ethnicity, sex and age band; "
                 "cells under 10 people suppressed (?format=csv for text/csv)")
    def screening_report(self, call: Call[None, ReportQuery]) -> Any:
        query = call.query
        if query.from_ and query.to and query.from_ > query.to:
            raise UnprocessableContent("`from` is after `to`", slug="invalid-query",
                                       errors=[{"field": "from", "message": "after `to`", "type": "value_error"}])
        rows, referrals = h.report_rows(self.db, call.agency, query.from_, query.to)
        report = build_report(rows)
        self.audit.record_now(call, "report.screening.read", "report", None, detail={
            "from": str(query.from_) if query.from_ else None, "to": str(query.to) if query.to else None})
        if query.format == "csv":
            return ApiResponse(render_csv(report), media_type="text/csv")
        return ScreeningReportOut(date_from=query.from_, date_to=query.to, referrals=referrals,
                                  min_cell=report.min_cell, cells=report.cells)

    # ------------------------------------------------------------ exports

    @api("GET", "/v1/exports/referrals", person_data=True, roles={"admin", "supervisor", "auditor"}, query=ExportQuery,
         media_type="application/x-ndjson", alternatives=["text/csv"], tags=["exports"],
         summary="Every referral with its screening, last decision and outcome, streamed as NDJSON (or "
                 "?format=csv); ?variant=deidentified for research (auditors get only that one)")
    def export_referrals(self, call: Call[None, ExportQuery]) -> Response:
        query = call.query
        if query.from_ and query.to and query.from_ > query.to:
            raise UnprocessableContent("`from` is after `to`", slug="invalid-query",
                                       errors=[{"field": "from", "message": "after `to`", "type": "value_error"}])
        roles = call.identity.roles if call.identity else frozenset()
        if query.variant == "identified" and not roles & {"admin", "supervisor"}:
            raise Forbidden("the identified export needs the role admin or supervisor; ask for variant=deidentified")
        common = self.ops.settings.common
        key = export.export_key(common.jwt_secret or load_or_create_secret(common.secret_file),
                                self.settings.export_key)
        self.audit.record_now(call, "referral.exported", "referral", None, detail={
            "variant": query.variant, "format": query.format, "program": query.program,
            "from": query.from_.isoformat() if query.from_ else None, "to": query.to.isoformat() if query.to else None,
        })
        engine = self.db.get_bind()
        agency = call.agency

        def stream() -> Any:
            # Its own connection: the worker's session is closed by the time the body is sent.
            with engine.connect() as connection:
                rows = export.records(connection, agency, variant=query.variant, key=key, date_from=query.from_,
                                      date_to=query.to, program=query.program)
                render = export.as_csv if query.format == "csv" else export.as_ndjson
                yield from render(rows, query.variant)

        media = "text/csv; charset=utf-8" if query.format == "csv" else "application/x-ndjson"
        name = f"referrals-{query.variant}.{'csv' if query.format == 'csv' else 'ndjson'}"
        return Response(stream(), status=200, content_type=media,
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    # ------------------------------------------------------------ events in

    @reliable_handler(CaseCompleted)
    def on_case_completed(self, event: CloudEvent[CaseCompleted]) -> None:
        """The case ended well: the referral's disposition is dismissal or one-day probation."""
        data = event.data
        self._dispose(event, data.referral_id, data.disposition, data.case_id, data.completed_at, None)

    @reliable_handler(CaseTerminated)
    def on_case_terminated(self, event: CloudEvent[CaseTerminated]) -> None:
        """The case failed: the referral returns to prosecution."""
        data = event.data
        self._dispose(event, data.referral_id, rules.Disposition.RETURNED_TO_PROSECUTION, data.case_id,
                      data.terminated_at, data.reason)

    @reliable_handler(CaseOpened)
    def on_case_opened(self, event: CloudEvent[CaseOpened]) -> None:
        """casework opened the referral's case: the referral knows its case from now on."""
        data = event.data
        if h.record_case_opened(self.db, event.tenantid, data.referral_id, data.case_id):
            self._event_audit(event, "referral.case_opened", data.referral_id, {"case_id": data.case_id})
        self.db.commit()

    @reliable_handler(CaseWithdrawn)
    def on_case_withdrawn(self, event: CloudEvent[CaseWithdrawn]) -> None:
        """The case was withdrawn: the referral shows withdrawn and the agency's own system is told."""
        data = event.data
        if h.record_withdrawal(self.db, self._emit, event.tenantid, data.referral_id, case_id=data.case_id,
                               at=data.withdrawn_at, reason=data.reason):
            self._event_audit(event, "referral.withdrawn", data.referral_id, {"case_id": data.case_id})
        self.db.commit()

    def _event_audit(self, event: CloudEvent, action: str, referral_id: str, detail: dict[str, Any]) -> None:
        self.audit.record_as(_event_identity(self.event_context, event.tenantid), action, "referral", referral_id,
                             request_id=self.event_context.get("request_id"), detail={**detail, "event_id": event.id})

    def _dispose(self, event: CloudEvent, referral_id: str, disposition: str, case_id: str, at: dt.datetime,
                 reason: str | None) -> None:
        changed = h.record_disposition(self.db, event.tenantid, referral_id, disposition, case_id=case_id, at=at,
                                       reason=reason, emit=self._emit)
        if changed:
            self._event_audit(event, "referral.disposed", referral_id,
                              {"disposition": str(disposition), "case_id": case_id})
        self.db.commit()


def _summary(r: Any, d: Any) -> ReferralSummary:
    """A referral row and its defendant row as a list item (the list and the review queue alike)."""
    return ReferralSummary(
        id=r.id, status=r.status, source=r.source, case_number=r.case_number, external_id=r.external_id,
        received_at=r.received_at,
        defendant=PersonName(first_name=d.first_name, last_name=d.last_name, date_of_birth=d.date_of_birth),
        recommendation=r.recommendation, eligible_programs=[p for p in r.eligible_programs.split(",") if p],
        program=r.program, deferred_until=r.deferred_until, disposition=r.disposition, **h.review_state(r),
    )


def _created_detail(created: h.Created) -> dict[str, Any]:
    return {"recommendation": created.screening.recommendation.value,
            "ruleset_version": created.screening.ruleset_version}


def _ruleset_out(ruleset: Ruleset, source: str) -> RulesetOut:
    return RulesetOut(agency=ruleset.agency, name=ruleset.name, version=ruleset.version,
                      content_hash=ruleset.content_hash, source=source,
                      programs=[p.id for p in ruleset.programs], decline_reasons=dict(ruleset.decline_reasons),
                      override_reasons=dict(ruleset.override_reasons),
                      deferral_reasons=dict(ruleset.deferral_reasons))


def _event_identity(context: dict[str, Any], agency: str) -> Identity:
    """Who acted in casework (the event's context headers), for the audit row; the service when unknown."""
    roles = context.get("roles") or ["case_manager"]
    try:
        return Identity(sub=str(context.get("sub") or "service:casework"), agency=agency, roles=roles)
    except ValidationError:
        return Identity(sub="service:casework", agency=agency, roles=frozenset({"case_manager"}))
