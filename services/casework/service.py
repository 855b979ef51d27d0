"""casework: cases from accepted referrals to dismissal, with case managers, plans and consents."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable
from typing import Any

from nameko.containers import WorkerContext
from nameko.extensions import DependencyProvider
from nameko.timer import Timer
from pydantic import BaseModel, ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from services.casework import handlers as h
from services.casework.domain import consent as consent_rules
from services.casework.domain import lifecycle, plan, reports, supervision
from services.casework.domain.assignment import CaseloadFull, CaseManager, ProgramNotServed, load_strategies
from services.casework.models import (
    AgencyConfig,
    AppointmentRecord,
    Assessment,
    CaseAssignment,
    CaseRecord,
    ConditionRecord,
    ConsentRecord,
    ContactRecord,
    DisclosureLog,
    IncidentRecord,
    Participant,
    PlanVersion,
    Staff,
)
from services.casework.schemas import (
    AgencySettingsIn,
    AgencySettingsOut,
    AppointmentIn,
    AppointmentOut,
    AssessmentIn,
    AssessmentOut,
    AssignmentIn,
    AssignmentOut,
    CaseListQuery,
    CaseOut,
    CaseSummary,
    CompleteIn,
    ConditionIn,
    ConditionMetIn,
    ConditionOut,
    ConsentIn,
    ConsentOut,
    ContactIn,
    ContactOut,
    ContactOutcomeIn,
    DomainAssessmentIn,
    ExtendIn,
    GoalOut,
    IncidentIn,
    IncidentOut,
    OutcomesQuery,
    ParticipantOut,
    PlanChangeIn,
    PlanOut,
    ProgressIn,
    ReportQuery,
    RevocationIn,
    SignatureIn,
    StaffIn,
    StaffOut,
    TerminateIn,
    TransitionIn,
    WithdrawIn,
)
from services.casework.settings import CaseworkSettings, casework_settings
from shared.audit import write_audit, write_audit_now
from shared.auth import Identity
from shared.db import Database
from shared.http import (
    ApiResponse,
    Call,
    Conflict,
    Forbidden,
    NotFound,
    PreconditionFailed,
    UnprocessableContent,
    api,
)
from shared.http.concurrency import etag, require_if_match
from shared.http.pagination import Page, Pager
from shared.idempotency import remember, replay
from shared.messaging import Outbox, reliable_handler, rpc
from shared.messaging.catalog import AppointmentScheduled, ReferralAccepted, ServiceReferralStatusChanged
from shared.messaging.envelope import CloudEvent
from shared.messaging.metrics import register_service_metrics
from shared.service import ServiceBase

log = logging.getLogger(__name__)

SETTINGS_CLASS = CaseworkSettings

READERS = {"case_manager", "supervisor", "auditor", "admin"}
WRITERS = {"case_manager", "supervisor"}
SUPERVISORS = {"supervisor"}
REPORT_READERS = {"supervisor", "auditor", "admin"}
ACTION_OF_STATE = {
    lifecycle.CaseState.ACTIVE: "assign",
    lifecycle.CaseState.EXTENDED: "extend",
    lifecycle.CaseState.COMPLETED: "complete",
    lifecycle.CaseState.TERMINATED: "terminate",
    lifecycle.CaseState.WITHDRAWN: "withdraw",
}
IF_MATCH = ["If-Match"]
IDEMPOTENT = ["Idempotency-Key"]


def allowed_actions(state: lifecycle.CaseState) -> list[str]:
    actions = [ACTION_OF_STATE[target] for target in lifecycle.allowed_transitions(state)]
    if state in lifecycle.OPEN_STATES:
        actions.append("reassign")
    return sorted(set(actions))


class CallContext(DependencyProvider):
    """The worker's context data: for RPC, the caller's identity (`agency`, `sub`, `roles`)."""

    def get_dependency(self, worker_ctx: WorkerContext) -> dict[str, Any]:
        return dict(worker_ctx.data)


class SettingsProvider(DependencyProvider):
    def setup(self) -> None:
        self.settings = casework_settings(self.container.config)
        # The outbox relay and the event handlers both register the messaging metrics when they start,
        # concurrently; registering first here (no I/O, so no green-thread switch) avoids their race.
        register_service_metrics(self.container.service_name, None, None)

    def get_dependency(self, worker_ctx: WorkerContext) -> CaseworkSettings:
        return self.settings


class SupervisionTimer(Timer):
    """nameko's timer with its interval from `DIVERSION_CASEWORK_TIMER_INTERVAL_SECONDS`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(interval=300.0, **kwargs)

    def setup(self) -> None:
        self.interval = casework_settings(self.container.config).timer_interval_seconds


supervision_timer = SupervisionTimer.decorator


def _plan_out(current: plan.SupportPlan) -> PlanOut:
    return PlanOut(case_id=current.case_id, version=current.version,
                   goals=[GoalOut.model_validate(g.model_dump()) for g in current.goals],
                   updated_on=current.updated_on, updated_by=current.updated_by)


def _plan_etag(case_id: str, version: int) -> str:
    return etag(f"plan-{case_id}", version)


def _condition_domain(row: ConditionRecord) -> supervision.Condition:
    return supervision.Condition(
        id=row.id, case_id=row.case_id, kind=supervision.ConditionKind(row.kind), description=row.description,
        unit=supervision.MakeWholeUnit(row.unit) if row.unit else None, required_amount=row.required_amount,
        completed_amount=row.completed_amount, met=row.met, met_on=row.met_on,
    )


def _condition_out(row: ConditionRecord) -> ConditionOut:
    domain = _condition_domain(row)
    return ConditionOut(id=row.id, case_id=row.case_id, kind=domain.kind, description=row.description,
                        unit=domain.unit, required_amount=row.required_amount, completed_amount=row.completed_amount,
                        remaining=domain.remaining, percent_complete=domain.percent_complete, met=row.met,
                        met_on=row.met_on, version=row.version)


def _contact_out(row: ContactRecord) -> ContactOut:
    return ContactOut(id=row.id, case_id=row.case_id, kind=supervision.ContactKind(row.kind),
                      scheduled_for=h.aware(row.scheduled_for), status=row.status,
                      completed_at=h.aware(row.completed_at) if row.completed_at else None, notes=row.notes,
                      version=row.version)


def _appointment_out(row: AppointmentRecord) -> AppointmentOut:
    return AppointmentOut(id=row.id, case_id=row.case_id, starts_at=h.aware(row.starts_at),
                          ends_at=h.aware(row.ends_at) if row.ends_at else None, kind=row.kind,
                          with_whom=row.with_whom, location=row.location, service_referral_id=row.service_referral_id,
                          status=supervision.AppointmentStatus(row.status), version=row.version)


def _incident_out(row: IncidentRecord) -> IncidentOut:
    return IncidentOut(id=row.id, case_id=row.case_id, kind=supervision.IncidentKind(row.kind),
                       occurred_on=row.occurred_on, description=row.description,
                       response=supervision.Response(row.response),
                       suggested_response=supervision.Response(row.suggested_response),
                       responded_by=row.responded_by, contact_id=row.contact_id)


def _consent_domain(row: ConsentRecord) -> consent_rules.Consent:
    return consent_rules.Consent(
        id=row.id, agency_id=row.agency_id, kind=consent_rules.ConsentKind(row.kind),
        participant_id=row.participant_id, participant_name=row.participant_name, discloser=row.discloser,
        categories=frozenset(consent_rules.InfoCategory(c) for c in row.categories),
        recipient_org_id=row.recipient_org_id, recipient_name=row.recipient_name,
        purposes=frozenset(consent_rules.Purpose(p) for p in row.purposes),
        right_to_revoke_acknowledged=row.right_to_revoke_acknowledged,
        revocation_instructions=row.revocation_instructions, expires_on=row.expires_on,
        expiry_event=consent_rules.DispositionEvent(row.expiry_event) if row.expiry_event else None,
        revocable_on=row.revocable_on,
        revocable_upon=consent_rules.DispositionEvent(row.revocable_upon) if row.revocable_upon else None,
        signature=consent_rules.Signature.model_validate(row.signature) if row.signature else None,
        effective_on=row.effective_on, revoked_on=row.revoked_on, revoked_by=row.revoked_by,
        revocation_method=row.revocation_method,
    )


def _consent_out(row: ConsentRecord) -> ConsentOut:
    domain = _consent_domain(row)
    return ConsentOut(
        id=row.id, participant_id=row.participant_id, kind=domain.kind, participant_name=row.participant_name,
        discloser=row.discloser, categories=sorted(domain.categories), recipient_org_id=row.recipient_org_id,
        recipient_name=row.recipient_name, purposes=sorted(domain.purposes),
        right_to_revoke_acknowledged=row.right_to_revoke_acknowledged,
        revocation_instructions=row.revocation_instructions, expires_on=row.expires_on,
        expiry_event=domain.expiry_event, revocable_on=row.revocable_on, revocable_upon=domain.revocable_upon,
        signature=SignatureIn.model_validate(row.signature) if row.signature else None,
        effective_on=row.effective_on, revoked_on=row.revoked_on, revoked_by=row.revoked_by,
        revocation_method=row.revocation_method, missing_elements=domain.missing_elements(),
        revocable_from=consent_rules.revocable_from(domain), version=row.version,
    )


def _csv(rows: list[Any], model: type[BaseModel]) -> ApiResponse:
    return ApiResponse(reports.to_csv(rows, model), media_type="text/csv")


class CaseworkService(ServiceBase):
    """Case management for diversion participants: staff, cases, plans, supervision, consents and outcomes."""

    name = "casework"
    api_tags = {
        "cases": "Diversion cases and their participants: caseloads, assignment, transitions to an outcome.",
        "supervision": "Conditions, contacts and check-ins, appointments and incidents of a case.",
        "plan": "Needs assessments and the versioned support plan of a case.",
        "consents": "42 CFR Part 2 consents of a participant and their revocation.",
        "reports": "Caseload, outcome and overdue reports (small cells suppressed).",
        "staff": "Case managers and supervisors of the agency, and the agency's casework settings.",
    }
    db = Database()
    outbox = Outbox()
    context = CallContext()
    settings = SettingsProvider()

    # ------------------------------------------------------------ plumbing

    def _emit(self, event: CloudEvent) -> None:
        self.outbox.record(self.db, event)

    def _audit(self, call: Call, action: str, resource_type: str, resource_id: str | None,
               detail: dict[str, Any] | None = None, outcome: str = "success") -> None:
        write_audit(self.db, service=self.name, action=action, outcome=outcome, identity=call.identity,
                    resource_type=resource_type, resource_id=resource_id, source_ip=call.remote_addr,
                    request_id=call.request_id, detail=detail)

    def _audit_now(self, call: Call, action: str, resource_type: str, resource_id: str | None,
                   detail: dict[str, Any] | None = None, outcome: str = "success") -> None:
        write_audit_now(self.db.get_bind(), service=self.name, action=action, outcome=outcome,  # type: ignore[arg-type]
                        identity=call.identity, resource_type=resource_type, resource_id=resource_id,
                        source_ip=call.remote_addr, request_id=call.request_id, detail=detail)

    def _roles(self, call: Call) -> frozenset[str]:
        return call.identity.roles if call.identity else frozenset()

    def _actor(self, call: Call) -> lifecycle.Actor:
        return lifecycle.Actor(subject=call.actor, roles=self._roles(call))

    def _case(self, call: Call, case_id: str, *, write: bool = False) -> CaseRecord:
        """The caller's agency's case (404 otherwise), locked for update when writing; case managers reach
        only their own caseload."""
        statement = select(CaseRecord).where(CaseRecord.agency_id == call.agency, CaseRecord.id == case_id)
        row = self.db.scalar(statement.with_for_update() if write else statement)
        if row is None:
            raise NotFound("no such case")
        roles = self._roles(call)
        if write and not roles & WRITERS:
            raise Forbidden("this action needs the role case_manager or supervisor")
        if not roles & {"supervisor", "auditor", "admin"}:
            me = h.staff_for_subject(self.db, call.agency, call.actor)
            if me is None or row.case_manager_id != me.id:
                self._audit_now(call, "case.access", "case", row.id, {"reason": "not on caseload"}, "denied")
                raise Forbidden("this case is not on your caseload")
        return row

    def _match(self, call: Call, current: str) -> None:
        require_if_match(call, current)

    def _commit(self) -> None:
        try:
            self.db.commit()
        except IntegrityError:
            # Someone saved the same next version first (plan) or the same key: the caller's copy is stale.
            self.db.rollback()
            raise PreconditionFailed("someone changed this resource at the same moment; read it again") from None

    def _created(self, call: Call, scope: str, body: BaseModel, tag: str | None = None) -> ApiResponse:
        remember(self.db, call, scope, 201, body)
        self._commit()
        return ApiResponse(body, status=201, headers={"ETag": tag} if tag else {})

    # ------------------------------------------------------------ staff and agency settings

    @api("GET", "/v1/staff", roles={"supervisor", "case_manager", "admin"}, response=list[StaffOut],
         tags=["staff"], summary="Case managers and supervisors of the caller's agency")
    def list_staff(self, call: Call) -> list[StaffOut]:
        staff = self.db.scalars(select(Staff).where(Staff.agency_id == call.agency).order_by(Staff.name)).all()
        return [StaffOut.model_validate(member) for member in staff]

    @api("POST", "/v1/staff", roles={"supervisor", "admin"}, body=StaffIn, response=StaffOut, status=201,
         errors=[409], tags=["staff"], summary="Add a case manager or supervisor to the caller's agency")
    def add_staff(self, call: Call) -> StaffOut:
        body: StaffIn = call.body
        email = str(body.email).lower()
        member = Staff(id=str(uuid.uuid4()), agency_id=call.agency, name=body.name, email=email,
                       role=body.role, programs=body.programs, caseload_cap=body.caseload_cap, active=True,
                       subject=body.subject or email)
        self.db.add(member)
        self._audit(call, "staff.created", "staff", member.id)
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

    def _agency_settings(self, agency: str) -> tuple[AgencySettingsOut, str]:
        config = self.db.get(AgencyConfig, agency)
        version = config.version if config else 0
        out = AgencySettingsOut(assignment_strategy=h.strategy_name_for(self.db, agency, self.settings),
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
    def put_settings(self, call: Call) -> ApiResponse:
        body: AgencySettingsIn = call.body
        if body.assignment_strategy not in load_strategies():
            raise UnprocessableContent(
                f"no assignment strategy {body.assignment_strategy!r} is installed",
                errors=[{"field": "assignment_strategy", "message": "not installed", "type": "value_error"}])
        config = self.db.get(AgencyConfig, call.agency, with_for_update=True)
        self._match(call, etag(f"settings-{call.agency}", config.version if config else 0))
        now = h.utcnow()
        if config is None:
            self.db.add(AgencyConfig(agency_id=call.agency, assignment_strategy=body.assignment_strategy, version=1,
                                     updated_at=now, updated_by=call.actor))
        else:
            config.assignment_strategy, config.updated_at, config.updated_by = body.assignment_strategy, now, call.actor
            config.version += 1
        self._audit(call, "settings.changed", "agency_config", call.agency, {"assignment_strategy":
                                                                              body.assignment_strategy})
        self._commit()
        out, tag = self._agency_settings(call.agency)
        return ApiResponse(out, headers={"ETag": tag})

    # ------------------------------------------------------------ events in

    @reliable_handler(ReferralAccepted)
    def on_referral_accepted(self, event: CloudEvent) -> None:
        """Open exactly one case (the inbox absorbs redeliveries; the unique key absorbs republished copies)."""
        h.open_case_from_referral(self.db, self._emit, event, self.settings)

    @reliable_handler(ServiceReferralStatusChanged)
    def on_service_referral_status_changed(self, event: CloudEvent) -> None:
        data = event.data
        assert isinstance(data, ServiceReferralStatusChanged)
        h.apply_referral_status(self.db, self._emit, event.tenantid, data.service_referral_id, str(data.status),
                                case_id=data.case_id)

    # ------------------------------------------------------------ cases

    @api("GET", "/v1/cases", person_data=True,
         roles=READERS, query=CaseListQuery, response=Page[CaseSummary], tags=["cases"],
         summary="Cases of the agency (a case manager sees their caseload); ?status=pending_assignment is "
                 "the supervisor's queue")
    def list_cases(self, call: Call) -> Page[CaseSummary]:
        query: CaseListQuery = call.query
        statement = select(CaseRecord).where(CaseRecord.agency_id == call.agency)
        if not self._roles(call) & {"supervisor", "auditor", "admin"}:
            me = h.staff_for_subject(self.db, call.agency, call.actor)
            statement = statement.where(CaseRecord.case_manager_id == (me.id if me else "-"))
        if query.status is not None:
            statement = statement.where(CaseRecord.state == query.status.value)
        if query.case_manager_id is not None:
            statement = statement.where(CaseRecord.case_manager_id == query.case_manager_id)
        if query.program is not None:
            statement = statement.where(CaseRecord.program_id == query.program)
        if query.referral_id is not None:
            statement = statement.where(CaseRecord.referral_id == query.referral_id)
        pager = Pager(call, CaseRecord.id)
        rows, next_cursor = pager.page(self.db.scalars(pager.apply(statement)).all(), key=lambda row: (row.id,))
        items = [self._summary(row) for row in rows]
        self._audit_now(call, "case.listed", "case", None, {"ids": [i.id for i in items]})
        return Page[CaseSummary](items=items, next_cursor=next_cursor)

    @staticmethod
    def _summary(row: CaseRecord) -> CaseSummary:
        return CaseSummary(id=row.id, referral_id=row.referral_id, case_number=row.case_number,
                           participant_id=row.participant_id, program_id=row.program_id,
                           state=lifecycle.CaseState(row.state), case_manager_id=row.case_manager_id,
                           opened_on=row.opened_on, start_date=row.start_date,
                           expected_end_date=row.expected_end_date, closed_on=row.closed_on, version=row.version)

    def _case_out(self, row: CaseRecord) -> ApiResponse:
        person = self.db.get(Participant, row.participant_id)
        assert person is not None
        terms = h.terms_of(row)
        state = lifecycle.CaseState(row.state)
        out = CaseOut(
            **self._summary(row).model_dump(), participant=ParticipantOut.model_validate(person),
            min_months=row.min_months, max_months=row.max_months, referred_on=row.referred_on,
            earliest_completion=terms.earliest_completion(row.start_date) if row.start_date else None,
            latest_end=terms.latest_end(row.start_date) if row.start_date else None,
            disposition=lifecycle.Disposition(row.disposition) if row.disposition else None,
            termination_reason=row.termination_reason, termination_detail=row.termination_detail,
            withdrawal_reason=row.withdrawal_reason, override=row.override, extensions=row.extensions,
            allowed_transitions=allowed_actions(state),
        )
        return ApiResponse(out, headers={"ETag": etag(row.id, row.version)})

    @api("GET", "/v1/cases/<id>", person_data=True, roles=READERS, response=CaseOut, tags=["cases"],
         summary="One case with the participant's record (the read is audited)")
    def get_case(self, call: Call, id: str) -> ApiResponse:
        row = self._case(call, id)
        self._audit_now(call, "case.read", "case", row.id, {"participant_id": row.participant_id})
        return self._case_out(row)

    @api("GET", "/v1/participants/<id>", person_data=True, roles=READERS, response=ParticipantOut, tags=["cases"],
         summary="A participant's minimum record (the read is audited)")
    def get_participant(self, call: Call, id: str) -> ParticipantOut:
        person = self._participant(call, id)
        self._audit_now(call, "participant.read", "participant", person.id)
        return ParticipantOut.model_validate(person)

    def _participant(self, call: Call, participant_id: str, write: bool = False) -> Participant:
        person = self.db.scalar(select(Participant).where(Participant.agency_id == call.agency,
                                                          Participant.id == participant_id))
        if person is None:
            raise NotFound("no such participant")
        case = self.db.scalar(select(CaseRecord).where(CaseRecord.agency_id == call.agency,
                                                       CaseRecord.participant_id == person.id))
        if case is not None:
            self._case(call, case.id, write=False)  # same caseload rule as the case
        if write and not self._roles(call) & WRITERS:
            raise Forbidden("this action needs the role case_manager or supervisor")
        return person

    @api("POST", "/v1/cases/<id>/transitions", roles=WRITERS, body=TransitionIn, response=CaseOut,
         required_headers=IF_MATCH, errors=[409, 412, 428], tags=["cases"],
         summary="Extend, complete, terminate (return to prosecution) or withdraw a case")
    def transition_case(self, call: Call, id: str) -> ApiResponse:
        row = self._case(call, id, write=True)
        self._match(call, etag(row.id, row.version))
        body = call.body
        now = h.utcnow()
        today = now.date()
        actor = self._actor(call)
        case = h.to_case(row)
        terms = h.terms_of(row)
        detail: str | None = None
        try:
            if isinstance(body, ExtendIn):
                outcome = lifecycle.extend(case, program=terms, on=today, reason=body.reason, months=body.months,
                                           until=body.until, actor=actor)
            elif isinstance(body, CompleteIn):
                override = None
                if body.override_reason:
                    if not self._roles(call) & SUPERVISORS:
                        self._audit_now(call, "case.override", "case", row.id, None, "denied")
                        raise Forbidden("only a supervisor may override the program's minimum duration",
                                        slug="override-forbidden")
                    override = lifecycle.SupervisorOverride(approved_by=call.actor, role="supervisor",
                                                            reason=body.override_reason)
                outcome = lifecycle.complete(case, disposition=body.disposition, program=terms,
                                             on=body.on or today, override=override, actor=actor)
            elif isinstance(body, TerminateIn):
                outcome = lifecycle.terminate(case, reason=body.reason, on=today, actor=actor)
                detail = body.detail
            else:
                assert isinstance(body, WithdrawIn)
                outcome = lifecycle.withdraw(case, reason=body.reason, on=today, actor=actor)
        except lifecycle.InvalidTransition as exc:
            raise Conflict(str(exc), slug="invalid-transition", current_state=exc.current.value,
                           allowed=allowed_actions(exc.current)) from None
        except lifecycle.OverrideRequired as exc:
            raise Conflict(str(exc), slug="override-required",
                           earliest_completion=exc.earliest_completion.isoformat()) from None
        except lifecycle.DurationExceeded as exc:
            raise Conflict(str(exc), slug="duration-exceeded", latest_end=exc.latest_end.isoformat(),
                           requested_end=exc.requested_end.isoformat()) from None
        except (lifecycle.ReasonRequired, ValueError) as exc:
            raise UnprocessableContent(str(exc), slug="invalid-transition-request") from None
        h.store_case(row, outcome.case, now)
        row.termination_detail = detail if detail is not None else row.termination_detail
        self.db.flush()
        h.emit_case_events(self.db, self._emit, row, outcome.events, now, termination_detail=detail)
        self._audit(call, f"case.{body.action}", "case", row.id,
                    {"state": row.state, "override": bool(row.override)})
        self._commit()
        return self._case_out(row)

    @api("POST", "/v1/cases/<id>/assignment", roles=SUPERVISORS, body=AssignmentIn, response=CaseOut,
         required_headers=IF_MATCH, errors=[409, 412, 428], tags=["cases"],
         summary="Assign or reassign the case manager (supervisor); history is kept")
    def assign_case(self, call: Call, id: str) -> ApiResponse:
        row = self._case(call, id, write=True)
        self._match(call, etag(row.id, row.version))
        body: AssignmentIn = call.body
        previous = row.case_manager_id
        try:
            h.assign_manually(self.db, self._emit, row, body.case_manager_id, actor=self._actor(call),
                              reason=body.reason, allow_over_cap=body.allow_over_cap, now=h.utcnow())
        except lifecycle.InvalidTransition as exc:
            raise Conflict(str(exc), slug="invalid-transition", current_state=exc.current.value,
                           allowed=allowed_actions(exc.current)) from None
        except (CaseloadFull, ProgramNotServed) as exc:
            raise Conflict(str(exc), slug="assignment-refused") from None
        self._audit(call, "case.assigned", "case", row.id,
                    {"case_manager_id": row.case_manager_id, "previous_case_manager_id": previous})
        self._commit()
        return self._case_out(row)

    @api("GET", "/v1/cases/<id>/assignments", person_data=True,
         roles=READERS, response=list[AssignmentOut], tags=["cases"],
         summary="Assignment history of a case, oldest first")
    def list_assignments(self, call: Call, id: str) -> list[AssignmentOut]:
        row = self._case(call, id)
        history = self.db.scalars(select(CaseAssignment).where(CaseAssignment.case_id == row.id)
                                  .order_by(CaseAssignment.assigned_at, CaseAssignment.id))
        out = [AssignmentOut.model_validate(item) for item in history]
        self._audit_now(call, "assignment.read", "case", row.id)
        return out

    # ------------------------------------------------------------ assessment and plan

    @api("POST", "/v1/cases/<id>/assessments", roles=WRITERS, body=AssessmentIn, response=AssessmentOut,
         status=201, headers=IDEMPOTENT, errors=[412], tags=["plan"],
         summary="Record a needs assessment (each one is the case's next assessment version)")
    def add_assessment(self, call: Call, id: str) -> ApiResponse:
        row = self._case(call, id, write=True)
        scope = f"assessment:{row.id}"
        if (again := replay(self.db, call, scope)) is not None:
            return again
        body: AssessmentIn = call.body
        try:
            assessment = plan.NeedsAssessment(case_id=row.id, assessed_on=body.assessed_on or h.utcnow().date(),
                                              assessed_by=call.actor,
                                              domains=[d.model_dump() for d in body.domains])  # type: ignore[misc]
        except ValidationError as exc:
            raise UnprocessableContent("the assessment is invalid",
                                       errors=[{"field": "domains", "message": str(e["msg"]), "type": e["type"]}
                                               for e in exc.errors()]) from None
        version = (self.db.scalar(select(func.max(Assessment.version)).where(Assessment.case_id == row.id)) or 0) + 1
        record = Assessment(id=str(uuid.uuid4()), agency_id=row.agency_id, case_id=row.id, version=version,
                            assessed_on=assessment.assessed_on, assessed_by=call.actor,
                            domains=[d.model_dump(mode="json") for d in assessment.domains], created_at=h.utcnow())
        self.db.add(record)
        self._audit(call, "assessment.created", "case", row.id, {"version": version})
        return self._created(call, scope, self._assessment_out(record))

    @staticmethod
    def _assessment_out(record: Assessment) -> AssessmentOut:
        domains = [plan.DomainAssessment.model_validate(d) for d in record.domains]
        needs = plan.NeedsAssessment(case_id=record.case_id, assessed_on=record.assessed_on,
                                     assessed_by=record.assessed_by, domains=domains)
        return AssessmentOut(id=record.id, version=record.version, assessed_on=record.assessed_on,
                             assessed_by=record.assessed_by,
                             domains=[DomainAssessmentIn.model_validate(d.model_dump()) for d in domains],
                             priorities=[d.domain.value for d in needs.priorities()])

    @api("GET", "/v1/cases/<id>/assessments", person_data=True,
         roles=READERS, response=list[AssessmentOut], tags=["plan"],
         summary="Every assessment of a case, newest first (the read is audited)")
    def list_assessments(self, call: Call, id: str) -> list[AssessmentOut]:
        row = self._case(call, id)
        records = self.db.scalars(select(Assessment).where(Assessment.case_id == row.id)
                                  .order_by(Assessment.version.desc()))
        out = [self._assessment_out(r) for r in records]
        self._audit_now(call, "assessment.read", "case", row.id, {"ids": [a.id for a in out]})
        return out

    @api("GET", "/v1/cases/<id>/plan", person_data=True, roles=READERS, response=PlanOut, tags=["plan"],
         summary="The current support plan, with its ETag (the read is audited)")
    def get_plan(self, call: Call, id: str) -> ApiResponse:
        row = self._case(call, id)
        self._audit_now(call, "plan.read", "case", row.id)
        current = h.current_plan(self.db, row)
        return ApiResponse(_plan_out(current), headers={"ETag": _plan_etag(row.id, current.version)})

    @api("GET", "/v1/cases/<id>/plan/versions/<int:version>", person_data=True,
         roles=READERS, response=PlanOut, tags=["plan"],
         summary="One earlier version of the support plan")
    def get_plan_version(self, call: Call, id: str, version: int) -> PlanOut:
        row = self._case(call, id)
        record = self.db.scalar(select(PlanVersion).where(PlanVersion.case_id == row.id,
                                                          PlanVersion.version == version))
        if record is None:
            raise NotFound("no such plan version")
        self._audit_now(call, "plan.read", "case", row.id, {"version": version})
        return _plan_out(h.plan_from_row(record))

    @api("POST", "/v1/cases/<id>/plan/changes", roles=WRITERS, body=PlanChangeIn, response=PlanOut,
         required_headers=IF_MATCH, errors=[409, 412, 428], tags=["plan"],
         summary="Change the support plan (add a goal or task, set a goal's status, complete a task, link a "
                 "service referral); saves the next version")
    def change_plan(self, call: Call, id: str) -> ApiResponse:
        row = self._case(call, id, write=True)
        current = h.current_plan(self.db, row)
        self._match(call, _plan_etag(row.id, current.version))
        if lifecycle.CaseState(row.state) in lifecycle.TERMINAL_STATES:
            raise Conflict(f"the case is {row.state}; its plan is closed", slug="case-closed")
        body = call.body
        today, by = h.utcnow().date(), call.actor
        try:
            if body.op == "add_goal":
                goal = plan.Goal(id=uuid.uuid4().hex[:12], domain=body.domain, description=body.description,
                                 target_date=body.target_date)
                revision = plan.add_goal(current, goal, on=today, by=by)
            elif body.op == "set_goal_status":
                revision = plan.set_goal_status(current, body.goal_id, body.status, on=today, by=by)
            elif body.op == "add_task":
                task = plan.Task(id=uuid.uuid4().hex[:12], description=body.description, due_date=body.due_date,
                                 owner=body.owner)
                revision = plan.add_task(current, body.goal_id, task, on=today, by=by)
            elif body.op == "complete_task":
                revision = plan.complete_task(current, body.goal_id, body.task_id, on=today, by=by)
            else:
                revision = plan.link_service_referral(current, body.goal_id, body.service_referral_id, on=today,
                                                      by=by)
        except plan.GoalNotFound as exc:
            raise NotFound(str(exc)) from None
        except ValueError as exc:
            raise Conflict(str(exc)) from None
        saved = h.save_plan_revision(self.db, self._emit, row, revision, h.utcnow())
        self._audit(call, f"plan.{body.op}", "case", row.id, {"version": saved.version})
        self._commit()
        return ApiResponse(_plan_out(saved), headers={"ETag": _plan_etag(row.id, saved.version)})

    # ------------------------------------------------------------ conditions

    def _condition(self, call: Call, case: CaseRecord, condition_id: str) -> ConditionRecord:
        row = self.db.scalar(select(ConditionRecord).where(
            ConditionRecord.agency_id == call.agency, ConditionRecord.case_id == case.id,
            ConditionRecord.id == condition_id).with_for_update())
        if row is None:
            raise NotFound("no such condition")
        return row

    @api("POST", "/v1/cases/<id>/conditions", roles=WRITERS, body=ConditionIn, response=ConditionOut, status=201,
         headers=IDEMPOTENT, errors=[409], tags=["supervision"],
         summary="Add a program condition (general, make-whole with an amount, or therapeutic)")
    def add_condition(self, call: Call, id: str) -> ApiResponse:
        case = self._case(call, id, write=True)
        scope = f"condition:{case.id}"
        if (again := replay(self.db, call, scope)) is not None:
            return again
        body: ConditionIn = call.body
        try:
            domain = supervision.Condition(id=str(uuid.uuid4()), case_id=case.id, kind=body.kind,
                                           description=body.description, unit=body.unit,
                                           required_amount=body.required_amount)
        except ValidationError as exc:
            raise UnprocessableContent("the condition is invalid", errors=[
                {"field": "(body)", "message": str(e["msg"]), "type": e["type"]} for e in exc.errors()]) from None
        row = ConditionRecord(id=domain.id, agency_id=case.agency_id, case_id=case.id, kind=domain.kind.value,
                              description=domain.description, unit=domain.unit.value if domain.unit else None,
                              required_amount=domain.required_amount, completed_amount=domain.completed_amount,
                              met=False, version=1, created_at=h.utcnow())
        self.db.add(row)
        self._audit(call, "condition.created", "condition", row.id, {"case_id": case.id, "kind": row.kind})
        self.db.flush()
        return self._created(call, scope, _condition_out(row), etag(row.id, row.version))

    @api("GET", "/v1/cases/<id>/conditions", person_data=True,
         roles=READERS, response=list[ConditionOut], tags=["supervision"],
         summary="The case's conditions with progress")
    def list_conditions(self, call: Call, id: str) -> list[ConditionOut]:
        case = self._case(call, id)
        rows = self.db.scalars(select(ConditionRecord).where(ConditionRecord.case_id == case.id)
                               .order_by(ConditionRecord.created_at, ConditionRecord.id))
        out = [_condition_out(r) for r in rows]
        self._audit_now(call, "condition.listed", "case", case.id, {"ids": [c.id for c in out]})
        return out

    @api("GET", "/v1/cases/<id>/conditions/<condition_id>", person_data=True, roles=READERS, response=ConditionOut,
         tags=["supervision"], summary="One condition, with its ETag")
    def get_condition(self, call: Call, id: str, condition_id: str) -> ApiResponse:
        case = self._case(call, id)
        row = self._condition(call, case, condition_id)
        self._audit_now(call, "condition.read", "condition", row.id, {"case_id": case.id})
        return ApiResponse(_condition_out(row), headers={"ETag": etag(row.id, row.version)})

    def _change_condition(self, call: Call, id: str, condition_id: str,
                          change: Callable[[supervision.Condition], supervision.Condition], action: str) -> ApiResponse:
        case = self._case(call, id, write=True)
        row = self._condition(call, case, condition_id)
        self._match(call, etag(row.id, row.version))
        try:
            changed = change(_condition_domain(row))
        except supervision.ConditionProgressError as exc:
            raise Conflict(str(exc), slug="condition-progress") from None
        row.completed_amount, row.met, row.met_on = changed.completed_amount, changed.met, changed.met_on
        row.version += 1
        self._audit(call, action, "condition", row.id, {"case_id": case.id, "met": row.met})
        self._commit()
        return ApiResponse(_condition_out(row), headers={"ETag": etag(row.id, row.version)})

    @api("POST", "/v1/cases/<id>/conditions/<condition_id>/progress", roles=WRITERS, body=ProgressIn,
         response=ConditionOut, required_headers=IF_MATCH, errors=[409, 412, 428], tags=["supervision"],
         summary="Record a payment or hours on a make-whole condition")
    def record_condition_progress(self, call: Call, id: str, condition_id: str) -> ApiResponse:
        body: ProgressIn = call.body
        on = body.on or h.utcnow().date()
        return self._change_condition(call, id, condition_id,
                                      lambda c: supervision.record_progress(c, body.amount, on=on),
                                      "condition.progress")

    @api("POST", "/v1/cases/<id>/conditions/<condition_id>/met", roles=WRITERS, body=ConditionMetIn,
         response=ConditionOut, required_headers=IF_MATCH, errors=[409, 412, 428], tags=["supervision"],
         summary="Mark a general or therapeutic condition met")
    def mark_condition_met(self, call: Call, id: str, condition_id: str) -> ApiResponse:
        body: ConditionMetIn = call.body
        on = body.on or h.utcnow().date()
        return self._change_condition(call, id, condition_id,
                                      lambda c: supervision.mark_condition_met(c, on=on), "condition.met")

    # ------------------------------------------------------------ contacts, appointments, incidents

    @api("POST", "/v1/cases/<id>/contacts", roles=WRITERS, body=ContactIn, response=ContactOut, status=201,
         headers=IDEMPOTENT, errors=[409], tags=["supervision"],
         summary="Schedule a check-in or record a completed contact")
    def add_contact(self, call: Call, id: str) -> ApiResponse:
        case = self._case(call, id, write=True)
        scope = f"contact:{case.id}"
        if (again := replay(self.db, call, scope)) is not None:
            return again
        body: ContactIn = call.body
        self._require_open(case)
        when = body.scheduled_for.astimezone(dt.UTC)
        row = ContactRecord(id=str(uuid.uuid4()), agency_id=case.agency_id, case_id=case.id, kind=body.kind.value,
                            scheduled_for=when, status=body.status,
                            completed_at=when if body.status == "completed" else None, notes=body.notes, version=1)
        self.db.add(row)
        self._audit(call, "contact.created", "contact", row.id, {"case_id": case.id, "status": row.status})
        self.db.flush()
        return self._created(call, scope, _contact_out(row), etag(row.id, row.version))

    @staticmethod
    def _require_open(case: CaseRecord) -> None:
        if lifecycle.CaseState(case.state) in lifecycle.TERMINAL_STATES:
            raise Conflict(f"the case is {case.state}", slug="case-closed")

    @api("GET", "/v1/cases/<id>/contacts", person_data=True,
         roles=READERS, response=list[ContactOut], tags=["supervision"],
         summary="Contacts and check-ins of a case, by scheduled time")
    def list_contacts(self, call: Call, id: str) -> list[ContactOut]:
        case = self._case(call, id)
        rows = self.db.scalars(select(ContactRecord).where(ContactRecord.case_id == case.id)
                               .order_by(ContactRecord.scheduled_for, ContactRecord.id))
        out = [_contact_out(r) for r in rows]
        self._audit_now(call, "contact.listed", "case", case.id, {"ids": [c.id for c in out]})
        return out

    @api("POST", "/v1/cases/<id>/contacts/<contact_id>/outcome", roles=WRITERS, body=ContactOutcomeIn,
         response=ContactOut, required_headers=IF_MATCH, errors=[409, 412, 428], tags=["supervision"],
         summary="Record that a scheduled check-in was completed, missed or cancelled")
    def contact_outcome(self, call: Call, id: str, contact_id: str) -> ApiResponse:
        case = self._case(call, id, write=True)
        row = self.db.scalar(select(ContactRecord).where(
            ContactRecord.case_id == case.id, ContactRecord.id == contact_id).with_for_update())
        if row is None:
            raise NotFound("no such contact")
        self._match(call, etag(row.id, row.version))
        body: ContactOutcomeIn = call.body
        if row.status != supervision.ContactStatus.SCHEDULED.value:
            raise Conflict(f"the contact is already {row.status}", slug="contact-settled")
        row.status = body.status
        row.notes = body.notes or row.notes
        if body.status == "completed":
            row.completed_at = (body.completed_at or h.utcnow()).astimezone(dt.UTC)
        row.version += 1
        self._audit(call, f"contact.{body.status}", "contact", row.id, {"case_id": case.id})
        self._commit()
        return ApiResponse(_contact_out(row), headers={"ETag": etag(row.id, row.version)})

    @api("POST", "/v1/cases/<id>/appointments", roles=WRITERS, body=AppointmentIn, response=AppointmentOut,
         status=201, headers=IDEMPOTENT, errors=[409], tags=["supervision"],
         summary="Schedule an appointment; publishes appointment.scheduled so the participant is reminded")
    def add_appointment(self, call: Call, id: str) -> ApiResponse:
        case = self._case(call, id, write=True)
        scope = f"appointment:{case.id}"
        if (again := replay(self.db, call, scope)) is not None:
            return again
        body: AppointmentIn = call.body
        self._require_open(case)
        if body.ends_at is not None and body.ends_at <= body.starts_at:
            raise UnprocessableContent("an appointment ends after it starts", errors=[
                {"field": "ends_at", "message": "must be after starts_at", "type": "value_error"}])
        person = self.db.get(Participant, case.participant_id)
        assert person is not None
        starts = body.starts_at.astimezone(dt.UTC)
        ends = body.ends_at.astimezone(dt.UTC) if body.ends_at else None
        row = AppointmentRecord(id=str(uuid.uuid4()), agency_id=case.agency_id, case_id=case.id, starts_at=starts,
                                ends_at=ends, kind=body.kind, with_whom=body.with_whom, location=body.location,
                                service_referral_id=body.service_referral_id,
                                status=supervision.AppointmentStatus.SCHEDULED.value, version=1)
        self.db.add(row)
        h.emit_data(self._emit, AppointmentScheduled(
            appointment_id=row.id, case_id=case.id, starts_at=starts, ends_at=ends, kind=body.kind,
            location=body.location, participant_id=person.id, participant_first_name=person.first_name,
            phone=person.phone, email=person.email, preferred_language=person.preferred_language,
            with_whom=body.with_whom,
        ), subject=row.id, agency=case.agency_id)
        self._audit(call, "appointment.scheduled", "appointment", row.id, {"case_id": case.id})
        self.db.flush()
        return self._created(call, scope, _appointment_out(row), etag(row.id, row.version))

    @api("GET", "/v1/cases/<id>/appointments", person_data=True,
         roles=READERS, response=list[AppointmentOut], tags=["supervision"],
         summary="Appointments of a case, by start time")
    def list_appointments(self, call: Call, id: str) -> list[AppointmentOut]:
        case = self._case(call, id)
        rows = self.db.scalars(select(AppointmentRecord).where(AppointmentRecord.case_id == case.id)
                               .order_by(AppointmentRecord.starts_at, AppointmentRecord.id))
        out = [_appointment_out(r) for r in rows]
        self._audit_now(call, "appointment.listed", "case", case.id, {"ids": [a.id for a in out]})
        return out

    @api("POST", "/v1/cases/<id>/incidents", roles=WRITERS, body=IncidentIn, response=IncidentOut, status=201,
         headers=IDEMPOTENT, errors=[409], tags=["supervision"],
         summary="Record an incident and the graduated response (default: the suggested next step)")
    def add_incident(self, call: Call, id: str) -> ApiResponse:
        case = self._case(call, id, write=True)
        scope = f"incident:{case.id}"
        if (again := replay(self.db, call, scope)) is not None:
            return again
        body: IncidentIn = call.body
        self._require_open(case)
        prior = [
            supervision.Incident(id=r.id, case_id=r.case_id, agency_id=r.agency_id,
                                 kind=supervision.IncidentKind(r.kind), occurred_on=r.occurred_on,
                                 description=r.description, response=supervision.Response(r.response),
                                 responded_by=r.responded_by, contact_id=r.contact_id)
            for r in self.db.scalars(select(IncidentRecord).where(IncidentRecord.case_id == case.id))
        ]
        suggested = supervision.suggest_response(body.kind, prior)
        row = IncidentRecord(id=str(uuid.uuid4()), agency_id=case.agency_id, case_id=case.id, kind=body.kind.value,
                             occurred_on=body.occurred_on, description=body.description,
                             response=(body.response or suggested).value, suggested_response=suggested.value,
                             responded_by=call.actor, contact_id=body.contact_id, created_at=h.utcnow())
        self.db.add(row)
        self._audit(call, "incident.created", "incident", row.id,
                    {"case_id": case.id, "kind": row.kind, "response": row.response})
        self.db.flush()
        return self._created(call, scope, _incident_out(row))

    @api("GET", "/v1/cases/<id>/incidents", person_data=True,
         roles=READERS, response=list[IncidentOut], tags=["supervision"],
         summary="Incidents of a case and the responses taken")
    def list_incidents(self, call: Call, id: str) -> list[IncidentOut]:
        case = self._case(call, id)
        rows = self.db.scalars(select(IncidentRecord).where(IncidentRecord.case_id == case.id)
                               .order_by(IncidentRecord.occurred_on, IncidentRecord.created_at))
        out = [_incident_out(r) for r in rows]
        self._audit_now(call, "incident.listed", "case", case.id, {"ids": [i.id for i in out]})
        return out

    # ------------------------------------------------------------ consents

    def _case_disposed(self, agency: str, participant_id: str) -> bool:
        states = set(self.db.scalars(select(CaseRecord.state).where(CaseRecord.agency_id == agency,
                                                                    CaseRecord.participant_id == participant_id)))
        return bool(states) and all(lifecycle.CaseState(s) in lifecycle.TERMINAL_STATES for s in states)

    @api("POST", "/v1/participants/<id>/consents", roles=WRITERS, body=ConsentIn, response=ConsentOut, status=201,
         headers=IDEMPOTENT, tags=["consents"],
         summary="Record a 42 CFR Part 2 consent (2.31 elements; 2.35 deferred revocation for criminal justice)")
    def add_consent(self, call: Call, id: str) -> ApiResponse:
        person = self._participant(call, id, write=True)
        scope = f"consent:{person.id}"
        if (again := replay(self.db, call, scope)) is not None:
            return again
        body: ConsentIn = call.body
        consent_id = str(uuid.uuid4())
        try:
            domain = consent_rules.Consent(
                id=consent_id, agency_id=call.agency, participant_id=person.id,
                participant_name=f"{person.first_name} {person.last_name}",
                **body.model_dump(exclude={"signature"}),
                signature=consent_rules.Signature.model_validate(body.signature.model_dump()) if body.signature
                else None,
            )
        except ValidationError as exc:
            raise UnprocessableContent("the consent is invalid", errors=[
                {"field": ".".join(map(str, e["loc"])) or "(body)", "message": str(e["msg"]), "type": e["type"]}
                for e in exc.errors()]) from None
        row = ConsentRecord(
            id=consent_id, agency_id=call.agency, participant_id=person.id, kind=domain.kind.value,
            participant_name=domain.participant_name, discloser=domain.discloser,
            categories=sorted(c.value for c in domain.categories), recipient_org_id=domain.recipient_org_id,
            recipient_name=domain.recipient_name, purposes=sorted(p.value for p in domain.purposes),
            right_to_revoke_acknowledged=domain.right_to_revoke_acknowledged,
            revocation_instructions=domain.revocation_instructions, expires_on=domain.expires_on,
            expiry_event=domain.expiry_event.value if domain.expiry_event else None,
            revocable_on=domain.revocable_on,
            revocable_upon=domain.revocable_upon.value if domain.revocable_upon else None,
            signature=domain.signature.model_dump(mode="json") if domain.signature else None,
            effective_on=domain.effective_on, version=1, created_at=h.utcnow(), created_by=call.actor,
        )
        self.db.add(row)
        self._audit(call, "consent.created", "consent", row.id,
                    {"participant_id": person.id, "kind": row.kind, "recipient_org_id": row.recipient_org_id})
        self.db.flush()
        return self._created(call, scope, _consent_out(row), etag(row.id, row.version))

    @api("GET", "/v1/participants/<id>/consents", person_data=True,
         roles=READERS, response=list[ConsentOut], tags=["consents"],
         summary="A participant's consents, newest first (the read is audited)")
    def list_consents(self, call: Call, id: str) -> list[ConsentOut]:
        person = self._participant(call, id)
        rows = self.db.scalars(select(ConsentRecord).where(ConsentRecord.participant_id == person.id)
                               .order_by(ConsentRecord.created_at.desc(), ConsentRecord.id))
        out = [_consent_out(r) for r in rows]
        self._audit_now(call, "consent.read", "participant", person.id, {"ids": [c.id for c in out]})
        return out

    @api("GET", "/v1/participants/<id>/consents/<consent_id>", person_data=True, roles=READERS, response=ConsentOut,
         tags=["consents"], summary="One consent, with its ETag")
    def get_consent(self, call: Call, id: str, consent_id: str) -> ApiResponse:
        person = self._participant(call, id)
        row = self._consent_row(person, consent_id)
        self._audit_now(call, "consent.read", "consent", row.id)
        return ApiResponse(_consent_out(row), headers={"ETag": etag(row.id, row.version)})

    def _consent_row(self, person: Participant, consent_id: str, lock: bool = False) -> ConsentRecord:
        statement = select(ConsentRecord).where(ConsentRecord.participant_id == person.id,
                                                ConsentRecord.id == consent_id)
        row = self.db.scalar(statement.with_for_update() if lock else statement)
        if row is None:
            raise NotFound("no such consent")
        return row

    @api("POST", "/v1/participants/<id>/consents/<consent_id>/revocation", roles=WRITERS, body=RevocationIn,
         response=ConsentOut, required_headers=IF_MATCH, errors=[409, 412, 428], tags=["consents"],
         summary="Revoke a consent (a 2.35 consent only from its stated time or event, or at disposition)")
    def revoke_consent(self, call: Call, id: str, consent_id: str) -> ApiResponse:
        person = self._participant(call, id, write=True)
        row = self._consent_row(person, consent_id, lock=True)
        self._match(call, etag(row.id, row.version))
        body: RevocationIn = call.body
        try:
            revoked = consent_rules.revoke(_consent_domain(row), on=body.on or h.utcnow().date(), by=call.actor,
                                           method=body.method,
                                           case_disposed=self._case_disposed(call.agency, person.id))
        except consent_rules.RevocationDeferred as exc:
            raise Conflict(str(exc), slug="revocation-deferred", revocable_from=exc.revocable_from) from None
        if revoked.revoked_on != row.revoked_on:
            row.revoked_on, row.revoked_by, row.revocation_method = (revoked.revoked_on, revoked.revoked_by,
                                                                     revoked.revocation_method)
            row.version += 1
            self._audit(call, "consent.revoked", "consent", row.id, {"participant_id": person.id})
        self._commit()
        return ApiResponse(_consent_out(row), headers={"ETag": etag(row.id, row.version)})

    @rpc
    def consent_covers(self, participant_id: str, recipient_org: str, categories: list[str], purpose: str,
                       on_date: str) -> dict[str, Any]:
        """Does a valid consent cover this disclosure? Covered checks are logged as disclosures (ADR 0040)."""
        agency = self.context.get("agency")
        actor = str(self.context.get("sub") or "rpc")

        def refused(reason: str, consent_id: str | None = None) -> dict[str, Any]:
            return {"covered": False, "consent_id": consent_id, "reason": reason, "notice": ""}

        if not agency:
            return refused("no agency in the call's context; a consent check needs the caller's identity")
        try:
            day = dt.date.fromisoformat(on_date)
            wanted = [consent_rules.InfoCategory(c) for c in categories]
            goal = consent_rules.Purpose(purpose)
        except (ValueError, TypeError) as exc:
            return refused(f"invalid request: {exc}")
        if not wanted:
            return refused("a disclosure names at least one information category")
        person = self.db.scalar(select(Participant).where(Participant.agency_id == agency,
                                                          Participant.id == participant_id))
        if person is None:
            return refused(f"no participant {participant_id} in agency {agency}")
        consents = [_consent_domain(r) for r in self.db.scalars(
            select(ConsentRecord).where(ConsentRecord.participant_id == person.id))]
        coverage = consent_rules.covers(consents, person.id, recipient_org, wanted, goal, day,
                                        self._case_disposed(agency, person.id))
        check_detail = {"recipient_org_id": recipient_org, "purpose": goal.value,
                           "categories": sorted(c.value for c in wanted), "code": coverage.code.value}
        if coverage.covered:
            record = consent_rules.record_disclosure(
                coverage, disclosure_id=str(uuid.uuid4()), agency_id=agency, participant_id=person.id,
                recipient_org_id=recipient_org, categories=wanted, purpose=goal, at=h.utcnow(), by=actor)
            self.db.add(DisclosureLog(
                id=record.id, agency_id=agency, participant_id=person.id, consent_id=record.consent_id,
                recipient_org_id=recipient_org, categories=sorted(c.value for c in record.categories),
                purpose=goal.value, disclosed_at=record.disclosed_at, disclosed_by=actor, notice=record.notice))
        caller = Identity.from_context(self.context)
        write_audit(self.db, service=self.name, action="consent.checked",
                    outcome="success" if coverage.covered else "denied",
                    identity=caller if caller is not None and caller.agency == agency else None, agency_id=agency,
                    resource_type="participant", resource_id=person.id, source_ip=None,
                    request_id=self.context.get("request_id"), detail={**check_detail, "actor": actor})
        self.db.commit()
        return {"covered": coverage.covered, "consent_id": coverage.consent_id, "reason": coverage.reason,
                "notice": coverage.notice or ""}

    # ------------------------------------------------------------ supervision timers

    @supervision_timer
    def supervision_sweep(self) -> None:
        """Assign waiting cases where room has freed up; publish overdue check-ins, silent cases and approaching
        program ends, each once across replicas."""
        assigned = h.assign_waiting_cases(self.db, self._emit, self.settings, h.utcnow())
        self.db.commit()
        if assigned:
            log.info("assigned %d waiting case(s)", assigned)
        published = h.supervision_sweep(self.db, self._emit, self.settings, h.utcnow())
        self.db.commit()
        if published:
            log.info("supervision sweep published %d alerts", published)

    # ------------------------------------------------------------ reports

    def _case_rows(self, agency: str) -> list[reports.CaseRow]:
        rows = self.db.execute(select(CaseRecord, Participant).join(
            Participant, Participant.id == CaseRecord.participant_id).where(CaseRecord.agency_id == agency)).tuples()
        return [
            reports.CaseRow(case_id=c.id, program_id=c.program_id, state=lifecycle.CaseState(c.state),
                            case_manager_id=c.case_manager_id, race=p.race, ethnicity=p.ethnicity, sex=p.sex,
                            age_at_referral=p.age_at_referral, referred_on=c.referred_on, opened_on=c.opened_on,
                            start_date=c.start_date, closed_on=c.closed_on)
            for c, p in rows
        ]

    @api("GET", "/v1/reports/caseload", roles=REPORT_READERS, query=ReportQuery,
         response=list[reports.CaseloadRow], tags=["reports"], alternatives=["text/csv"],
         summary="Open cases per case manager against their cap (?format=csv for text/csv)")
    def caseload_report(self, call: Call) -> Any:
        members = [
            CaseManager(id=m.id, agency_id=m.agency_id, name=m.name, programs=frozenset(m.programs),
                                active=m.active, caseload_cap=m.caseload_cap)
            for m in self.db.scalars(select(Staff).where(Staff.agency_id == call.agency))
        ]
        rows = reports.caseload_report(members, self._case_rows(call.agency))
        self._audit_now(call, "report.caseload", "report", "caseload")
        return _csv(rows, reports.CaseloadRow) if call.query.format == "csv" else rows

    @api("GET", "/v1/reports/overdue", person_data=True,
         roles=REPORT_READERS, query=ReportQuery, response=list[reports.OverdueItem],
         tags=["reports"], alternatives=["text/csv"],
         summary="Everything late on open cases, oldest first (?format=csv for text/csv)")
    def overdue_report(self, call: Call) -> Any:
        now = h.utcnow()
        clocks = h.open_case_clocks(self.db, call.agency)
        ids = [c.case_id for c in clocks]
        plans = []
        for case_id in ids:
            record = h.current_plan_row(self.db, case_id)
            if record is not None:
                plans.append(h.plan_from_row(record))
        items = reports.overdue_items(now=now, clocks=clocks, contacts=h.scheduled_contacts(self.db, ids),
                                      plans=plans, grace=dt.timedelta(hours=self.settings.checkin_grace_hours),
                                      no_contact_days=self.settings.no_contact_days)
        self._audit_now(call, "report.overdue", "report", "overdue",
                        {"case_ids": sorted({item.case_id for item in items})})
        return _csv(items, reports.OverdueItem) if call.query.format == "csv" else items

    @api("GET", "/v1/reports/outcomes", roles=REPORT_READERS, query=OutcomesQuery,
         response=dict[str, list[reports.OutcomeCell]], tags=["reports"], alternatives=["text/csv"],
         summary="Outcomes by program, race, ethnicity, sex and age band; cells under 10 people suppressed "
                 "(?format=csv for text/csv)")
    def outcomes_report(self, call: Call) -> Any:
        query: OutcomesQuery = call.query
        rows = self._case_rows(call.agency)
        if query.dimension is not None:
            result = {query.dimension.value: reports.outcomes_by(rows, query.dimension)}
        else:
            result = reports.outcomes_report(rows)
        self._audit_now(call, "report.outcomes", "report", "outcomes")
        if query.format == "csv":
            return _csv([cell for cells in result.values() for cell in cells], reports.OutcomeCell)
        return {name: [cell.model_dump(mode="json") for cell in cells] for name, cells in result.items()}
