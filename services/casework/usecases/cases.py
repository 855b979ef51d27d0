"""Cases and participants: finding them (agency and caseload), listing, reading, moving to an outcome."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.casework.domain import conditions as condition_rules
from services.casework.domain import lifecycle
from services.casework.domain.lifecycle import CaseEvent, CaseEventName, CaseState
from services.casework.domain.plan import GoalStatus
from services.casework.mapping import case_summary, store_case, terms_of, to_case
from services.casework.models import CaseRecord, Participant
from services.casework.schemas import (
    CaseListQuery,
    CaseOut,
    CaseSummary,
    CompleteIn,
    ExtendIn,
    ParticipantOut,
    TerminateIn,
    TransitionIn,
    WithdrawIn,
)
from services.casework.usecases import appointments, conditions
from services.casework.usecases.common import Missing, emit_data
from services.casework.usecases.plans import current_plan
from services.casework.usecases.staff import staff_for_subject, staff_subject
from shared.http import Call
from shared.http.pagination import paginate
from shared.messaging import Emit
from shared.messaging.catalog import (
    CaseAssigned,
    CaseCompleted,
    CasePlanUpdated,
    CaseTerminated,
    CaseWithdrawn,
    EventData,
)
from shared.records import unsealed

# ---------------------------------------------------------------- finding cases and participants


def case_row(session: Session, agency: str, case_id: str, *, lock: bool = False) -> CaseRecord:
    """The agency's case (404 otherwise), locked for update when `lock`."""
    statement = select(CaseRecord).where(CaseRecord.agency_id == agency, CaseRecord.id == case_id)
    row = session.scalar(statement.with_for_update() if lock else statement)
    if row is None:
        raise Missing("no such case")
    return row


def on_caseload(session: Session, agency: str, subject: str, row: CaseRecord) -> bool:
    """Is the case held by the (active) staff member signed in as `subject`? A deactivated case manager
    reaches no case: theirs wait in the reassignment queue."""
    me = staff_for_subject(session, agency, subject)
    return me is not None and me.active and row.case_manager_id == me.id


def participant_row(session: Session, agency: str, participant_id: str) -> Participant:
    person = session.scalar(select(Participant).where(Participant.agency_id == agency,
                                                      Participant.id == participant_id))
    if person is None:
        raise Missing("no such participant")
    return person


def case_of_participant(session: Session, agency: str, participant_id: str) -> CaseRecord | None:
    return session.scalar(select(CaseRecord).where(CaseRecord.agency_id == agency,
                                                   CaseRecord.participant_id == participant_id))


# ---------------------------------------------------------------- reading


def list_cases(
    session: Session, call: Call, query: CaseListQuery, *, whole_agency: bool, include_sealed: bool = False,
) -> tuple[list[CaseSummary], str | None]:
    """A page of the agency's cases (only the caller's caseload unless `whole_agency`; sealed cases only for a
    records officer naming a legal basis, `include_sealed`)."""
    statement = select(CaseRecord).where(CaseRecord.agency_id == call.agency)
    if not include_sealed:
        statement = statement.where(unsealed(CaseRecord.id, call.agency, "case"))
    if not whole_agency:
        me = staff_for_subject(session, call.agency, call.actor)
        statement = statement.where(CaseRecord.case_manager_id == (me.id if me and me.active else "-"))
    if query.status is not None:
        statement = statement.where(CaseRecord.state == query.status.value)
    if query.case_manager_id is not None:
        statement = statement.where(CaseRecord.case_manager_id == query.case_manager_id)
    if query.program is not None:
        statement = statement.where(CaseRecord.program_id == query.program)
    if query.referral_id is not None:
        statement = statement.where(CaseRecord.referral_id == query.referral_id)
    rows, next_cursor = paginate(session, call, statement, order=(CaseRecord.id,), key=lambda row: (row.id,))
    return [case_summary(row) for row in rows], next_cursor


def case_out(session: Session, row: CaseRecord) -> CaseOut:
    person = session.get(Participant, row.participant_id)
    assert person is not None
    terms = terms_of(row)
    return CaseOut(
        **case_summary(row).model_dump(), participant=ParticipantOut.model_validate(person),
        min_months=row.min_months, max_months=row.max_months, referred_on=row.referred_on,
        earliest_completion=terms.earliest_completion(row.start_date) if row.start_date else None,
        latest_end=terms.latest_end(row.start_date) if row.start_date else None,
        disposition=lifecycle.Disposition(row.disposition) if row.disposition else None,
        termination_reason=row.termination_reason, termination_detail=row.termination_detail,
        withdrawal_reason=row.withdrawal_reason, override=row.override, extensions=row.extensions,
        allowed_transitions=lifecycle.allowed_actions(CaseState(row.state)),
    )


# ---------------------------------------------------------------- changing


def transition_case(
    session: Session, emit: Emit, row: CaseRecord, body: TransitionIn, *, actor: lifecycle.Actor, now: datetime,
) -> list[str]:
    """Extend, complete, terminate or withdraw the case; the domain's errors propagate (an early completion's
    override or a waiver of conditions by someone not a supervisor: `OverrideNotPermitted`; unmet conditions
    not waived: `ConditionsUnmet`). Returns the ids of the conditions a completion waived."""
    today = now.date()
    case = to_case(row)
    terms = terms_of(row)
    detail: str | None = None
    waived: list[str] = []
    if isinstance(body, ExtendIn):
        outcome = lifecycle.extend(case, program=terms, on=today, reason=body.reason, months=body.months,
                                   until=body.until, actor=actor)
    elif isinstance(body, CompleteIn):
        override = lifecycle.supervisor_override(actor, body.override_reason) if body.override_reason else None
        if body.waive_conditions is not None:  # a case manager's waiver is refused before anything else
            condition_rules.require_supervisor(actor, "waive a condition")
        outcome = lifecycle.complete(case, disposition=body.disposition, program=terms, on=body.on or today,
                                     override=override, actor=actor)
        # The program's conditions count: met or waived by name (the minimum's override never waives one).
        waived = conditions.settle_for_completion(session, row, body.waive_conditions, actor=actor, now=now)
    elif isinstance(body, TerminateIn):
        outcome = lifecycle.terminate(case, reason=body.reason, on=today, actor=actor)
        detail = body.detail
    else:
        assert isinstance(body, WithdrawIn)
        outcome = lifecycle.withdraw(case, reason=body.reason, on=today, actor=actor)
    store_case(row, outcome.case, now)
    row.termination_detail = detail if detail is not None else row.termination_detail
    session.flush()
    emit_case_events(session, emit, row, outcome.events, now, termination_detail=detail)
    if not isinstance(body, ExtendIn):  # the case is closed: nothing of it stays scheduled (issue 16's close-out)
        appointments.cancel_for_closed_case(session, emit, row, reason=f"case {row.state}", now=now)
    return waived


def emit_case_events(
    session: Session, emit: Emit, row: CaseRecord, events: Iterable[CaseEvent], now: datetime,
    *, termination_detail: str | None = None,
) -> None:
    """Map the domain's events to catalog events and record them."""
    for event in events:
        data: EventData
        if event.name is CaseEventName.ASSIGNED:
            data = CaseAssigned(
                case_id=row.id,
                case_manager=staff_subject(session, row.agency_id, event.data["case_manager_id"]) or "",
                previous_case_manager=staff_subject(session, row.agency_id, event.data.get("previous_case_manager_id")),
                assigned_at=now,
            )
        elif event.name is CaseEventName.PLAN_UPDATED:
            plan = current_plan(session, row)
            data = CasePlanUpdated(
                case_id=row.id, plan_version=plan.version, goals_total=len(plan.goals),
                goals_completed=sum(1 for g in plan.goals if g.status is GoalStatus.ACHIEVED),
                updated_at=now, change=str(event.data.get("change") or "updated"),
                expected_end=row.expected_end_date,
            )
        elif event.name is CaseEventName.COMPLETED:
            assert row.disposition is not None
            data = CaseCompleted(case_id=row.id, referral_id=row.referral_id,
                                 disposition=row.disposition,
                                 completed_at=now)
        elif event.name is CaseEventName.TERMINATED:
            data = CaseTerminated(case_id=row.id, referral_id=row.referral_id,
                                  reason=row.termination_reason,
                                  detail=termination_detail, terminated_at=now)
        elif event.name is CaseEventName.WITHDRAWN:
            data = CaseWithdrawn(case_id=row.id, referral_id=row.referral_id, withdrawn_at=now,
                                 reason=row.withdrawal_reason)
        else:  # OPENED is published by `open_case_from_referral` once assignment settled the state
            continue
        emit_data(emit, data, subject=row.id, agency=row.agency_id)
