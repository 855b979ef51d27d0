"""Needs assessments and the versioned support plan of a case."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.casework.domain import goals, plan
from services.casework.domain.lifecycle import TERMINAL_STATES, CaseState
from services.casework.domain.plan import GoalStatus, NeedDomain, PlanRevision, SupportPlan
from services.casework.mapping import plan_from_row
from services.casework.models import Assessment, CaseRecord, PlanReferralLink, PlanVersion
from services.casework.packs import goal_templates
from services.casework.schemas import (
    AddGoal,
    AddTask,
    AssessmentIn,
    CompleteTask,
    LinkServiceReferral,
    SetGoalStatus,
)
from services.casework.usecases.common import Missing, emit_data
from shared.messaging import Emit
from shared.messaging.catalog import CasePlanUpdated

# ---------------------------------------------------------------- assessments


def add_assessment(session: Session, case: CaseRecord, body: AssessmentIn, *, by: str, now: datetime) -> Assessment:
    """The case's next assessment version (pydantic's ValidationError when the domains are invalid)."""
    assessment = plan.NeedsAssessment(case_id=case.id, assessed_on=body.assessed_on or now.date(), assessed_by=by,
                                      domains=[d.model_dump() for d in body.domains])
    version = (session.scalar(select(func.max(Assessment.version)).where(Assessment.case_id == case.id)) or 0) + 1
    record = Assessment(id=str(uuid.uuid4()), agency_id=case.agency_id, case_id=case.id, version=version,
                        assessed_on=assessment.assessed_on, assessed_by=by,
                        domains=[d.model_dump(mode="json") for d in assessment.domains], created_at=now)
    session.add(record)
    return record


def propose_goals(
    session: Session, emit: Emit, case: CaseRecord, record: Assessment, now: datetime,
) -> SupportPlan | None:
    """The plan's next version with a goal (from the agency's templates) for each priority of the assessment
    that has no goal yet; None when every priority has one (or the case is closed)."""
    if CaseState(case.state) in TERMINAL_STATES:
        return None
    assessment = plan.NeedsAssessment(case_id=case.id, assessed_on=record.assessed_on, assessed_by=record.assessed_by,
                                      domains=[plan.DomainAssessment.model_validate(d) for d in record.domains])
    revision = goals.propose_goals(current_plan(session, case), assessment, goal_templates(case.agency_id),
                                   assessment_version=record.version, on=now.date(), by=record.assessed_by,
                                   new_id=lambda: uuid.uuid4().hex[:12])
    if revision is None:
        return None
    return save_plan_revision(session, emit, case, revision, now)


def assessed_domains(session: Session, case_id: str) -> set[NeedDomain]:
    """Every domain any assessment of the case covered, at any level."""
    return {plan.parse_domain(d["domain"]) for a in list_assessments(session, case_id) for d in a.domains}


def latest_priorities(session: Session, case_id: str) -> list[NeedDomain]:
    """The latest assessment's priority domains, highest first (none before the first assessment)."""
    latest = session.scalar(select(Assessment).where(Assessment.case_id == case_id)
                            .order_by(Assessment.version.desc()).limit(1))
    if latest is None:
        return []
    assessment = plan.NeedsAssessment(case_id=case_id, assessed_on=latest.assessed_on, assessed_by=latest.assessed_by,
                                      domains=[plan.DomainAssessment.model_validate(d) for d in latest.domains])
    return [d.domain for d in assessment.priorities()]


def list_assessments(session: Session, case_id: str) -> list[Assessment]:
    return list(session.scalars(select(Assessment).where(Assessment.case_id == case_id)
                                .order_by(Assessment.version.desc())))


# ---------------------------------------------------------------- plans


def current_plan_row(session: Session, case_id: str) -> PlanVersion | None:
    return session.scalar(
        select(PlanVersion).where(PlanVersion.case_id == case_id).order_by(PlanVersion.version.desc()).limit(1)
    )


def current_plan(session: Session, case: CaseRecord) -> SupportPlan:
    row = current_plan_row(session, case.id)
    if row is None:
        return SupportPlan(case_id=case.id, agency_id=case.agency_id, version=1, goals=[],
                           updated_on=case.opened_on, updated_by="casework")
    return plan_from_row(row)


def plan_version(session: Session, case_id: str, version: int) -> SupportPlan:
    record = session.scalar(select(PlanVersion).where(PlanVersion.case_id == case_id, PlanVersion.version == version))
    if record is None:
        raise Missing("no such plan version")
    return plan_from_row(record)


def revise_plan(
    current: SupportPlan, change: AddGoal | SetGoalStatus | AddTask | CompleteTask | LinkServiceReferral, *,
    on: date, by: str, assessed: Iterable[NeedDomain] = (),
) -> PlanRevision:
    """The revision a plan change asks for (the domain's GoalNotFound / ValueError when it cannot; a new goal
    outside the `assessed` domains without a reason: GoalOutsideAssessment)."""
    if isinstance(change, AddGoal):
        why = goals.check_goal_domain(change.domain, assessed, change.reason)  # GoalOutsideAssessment: 422
        goal = plan.Goal(id=uuid.uuid4().hex[:12], domain=change.domain, description=change.description,
                         target_date=change.target_date, outside_assessment_reason=why)
        return plan.add_goal(current, goal, on=on, by=by)
    if isinstance(change, SetGoalStatus):
        return plan.set_goal_status(current, change.goal_id, change.status, on=on, by=by)
    if isinstance(change, AddTask):
        task = plan.Task(id=uuid.uuid4().hex[:12], description=change.description, due_date=change.due_date,
                         owner=change.owner)
        return plan.add_task(current, change.goal_id, task, on=on, by=by)
    if isinstance(change, CompleteTask):
        return plan.complete_task(current, change.goal_id, change.task_id, on=on, by=by)
    return plan.link_service_referral(current, change.goal_id, change.service_referral_id, on=on, by=by)


def save_plan_revision(
    session: Session, emit: Emit, case: CaseRecord, revision: PlanRevision, now: datetime,
) -> SupportPlan:
    """Insert the next plan version (the unique (case, version) key rejects a concurrent save) and
    keep the service-referral links current."""
    saved = revision.plan
    session.add(PlanVersion(
        agency_id=case.agency_id, case_id=case.id, version=saved.version,
        goals=[g.model_dump(mode="json") for g in saved.goals], change=str(revision.event.data.get("change")),
        updated_on=saved.updated_on, updated_by=saved.updated_by, created_at=now,
    ))
    linked = {rid for goal in saved.goals for rid in goal.service_referral_ids}
    known = set(session.scalars(select(PlanReferralLink.service_referral_id).where(
        PlanReferralLink.agency_id == case.agency_id, PlanReferralLink.case_id == case.id)))
    for referral_id in linked - known:
        session.add(PlanReferralLink(agency_id=case.agency_id, service_referral_id=referral_id, case_id=case.id))
    session.flush()
    emit_data(emit, CasePlanUpdated(
        case_id=case.id, plan_version=saved.version, goals_total=len(saved.goals),
        goals_completed=sum(1 for g in saved.goals if g.status is GoalStatus.ACHIEVED), updated_at=now,
        change=str(revision.event.data.get("change")), expected_end=case.expected_end_date,
    ), subject=case.id, agency=case.agency_id)
    return saved
