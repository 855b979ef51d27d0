"""Needs assessment and the versioned support plan (goals, tasks, links to service referrals).

Every change returns a new plan with the next version number and a `case.plan_updated` event, so the
service can keep each version and use the number as the ETag. Service-referral status changes from
`resources` move linked goals; applying the same change twice changes nothing (no new version).

Over 400 lines on purpose: the assessment and the plan it prioritises stay one module (the plan's goals name the
assessment's need domains).
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from services.casework.domain.lifecycle import CaseEvent, CaseEventName, CaseworkError
from shared.vocabulary import ServiceReferralStatus


class NeedDomain(StrEnum):
    """Assessment domains, named after the seed's support plan (housing, mental health and crisis,
    career and education, social support with family and community) plus substance use, health,
    legal needs and safety."""

    HOUSING = "housing"
    MENTAL_HEALTH_CRISIS = "mental_health_crisis"
    SUBSTANCE_USE = "substance_use"
    PHYSICAL_HEALTH = "physical_health"
    EMPLOYMENT = "employment"
    EDUCATION = "education"
    FAMILY_SOCIAL_SUPPORT = "family_social_support"
    LEGAL = "legal"
    VIOLENCE_PREVENTION = "violence_prevention"


# Domain -> the resources service's need categories a goal in that domain is referred to. The first
# category is the primary one. Slugs equal the category where the two line up one to one.
DOMAIN_NEED_CATEGORIES: dict[NeedDomain, tuple[str, ...]] = {
    NeedDomain.HOUSING: ("housing",),
    NeedDomain.MENTAL_HEALTH_CRISIS: ("mental_health_crisis",),
    NeedDomain.SUBSTANCE_USE: ("substance_use",),
    NeedDomain.PHYSICAL_HEALTH: ("physical_health", "hiv_aids"),
    NeedDomain.EMPLOYMENT: ("employment",),
    NeedDomain.EDUCATION: ("education",),
    NeedDomain.FAMILY_SOCIAL_SUPPORT: ("family_parenting",),
    NeedDomain.LEGAL: ("legal",),
    NeedDomain.VIOLENCE_PREVENTION: ("violence_prevention",),
}

# Names accepted on input for a domain (resources' category slugs that are not domain slugs).
DOMAIN_ALIASES: dict[str, NeedDomain] = {
    "family_parenting": NeedDomain.FAMILY_SOCIAL_SUPPORT,
    "hiv_aids": NeedDomain.PHYSICAL_HEALTH,
}


def parse_domain(value: str) -> NeedDomain:
    """A domain from its slug or a resources need-category alias (`family_parenting`)."""
    if value in DOMAIN_ALIASES:
        return DOMAIN_ALIASES[value]
    return NeedDomain(value)


def need_categories(domain: NeedDomain) -> tuple[str, ...]:
    return DOMAIN_NEED_CATEGORIES[domain]


def domain_for_category(category: str) -> NeedDomain:
    """The domain a resources need category belongs to (every category has exactly one)."""
    for domain, categories in DOMAIN_NEED_CATEGORIES.items():
        if category in categories:
            return domain
    raise ValueError(f"unknown need category {category!r}")


class NeedLevel(StrEnum):
    NONE = "none"
    LOW = "low"
    MODERATE = "moderate"
    HIGH = "high"


_LEVEL_RANK = {NeedLevel.NONE: 0, NeedLevel.LOW: 1, NeedLevel.MODERATE: 2, NeedLevel.HIGH: 3}


class DomainAssessment(BaseModel):
    model_config = ConfigDict(frozen=True)

    domain: NeedDomain
    level: NeedLevel
    notes: str = ""

    @field_validator("domain", mode="before")
    @classmethod
    def _alias(cls, value: Any) -> Any:
        return parse_domain(value) if isinstance(value, str) else value


class NeedsAssessment(BaseModel):
    """One assessment of a case; each domain appears at most once."""

    model_config = ConfigDict(frozen=True)

    case_id: str
    assessed_on: date
    assessed_by: str
    domains: list[DomainAssessment]

    @model_validator(mode="after")
    def _one_per_domain(self) -> NeedsAssessment:
        seen = [d.domain for d in self.domains]
        duplicated = sorted({d.value for d in seen if seen.count(d) > 1})
        if duplicated:
            raise ValueError(f"domain assessed more than once: {', '.join(duplicated)}")
        return self

    def priorities(self) -> list[DomainAssessment]:
        """Moderate and high needs, highest first (ties in domain order), to seed plan goals."""
        order = list(NeedDomain)
        needs = [d for d in self.domains if _LEVEL_RANK[d.level] >= _LEVEL_RANK[NeedLevel.MODERATE]]
        return sorted(needs, key=lambda d: (-_LEVEL_RANK[d.level], order.index(d.domain)))


class GoalStatus(StrEnum):
    NOT_STARTED = "not_started"
    IN_PROGRESS = "in_progress"
    ACHIEVED = "achieved"
    DROPPED = "dropped"


class Task(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    description: str
    due_date: date | None = None
    owner: str = "participant"  # participant | case_manager | a partner's name
    done: bool = False
    done_on: date | None = None


class Goal(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    domain: NeedDomain
    description: str
    target_date: date | None = None
    status: GoalStatus = GoalStatus.NOT_STARTED
    service_referral_ids: list[str] = Field(default_factory=list)
    tasks: list[Task] = Field(default_factory=list)
    needs_attention: bool = False
    attention_reason: str | None = None
    proposed_by_assessment: int | None = None  # the assessment version whose priority proposed it
    outside_assessment_reason: str | None = None  # why a goal in a domain no assessment covered was added

    @field_validator("domain", mode="before")
    @classmethod
    def _alias(cls, value: Any) -> Any:
        return parse_domain(value) if isinstance(value, str) else value


class SupportPlan(BaseModel):
    """One version of a case's plan; version 1 is the first saved plan."""

    model_config = ConfigDict(frozen=True)

    case_id: str
    agency_id: str
    version: int = Field(default=1, ge=1)
    goals: list[Goal] = Field(default_factory=list)
    updated_on: date
    updated_by: str

    def goal(self, goal_id: str) -> Goal:
        for goal in self.goals:
            if goal.id == goal_id:
                return goal
        raise GoalNotFound(f"no goal {goal_id!r} in the plan of case {self.case_id}")


class PlanRevision(BaseModel):
    """A new plan version and the event announcing it."""

    model_config = ConfigDict(frozen=True)

    plan: SupportPlan
    event: CaseEvent


class GoalNotFound(CaseworkError):
    """The plan has no goal with that id."""


class StalePlanVersion(CaseworkError):
    """The editor changed an older version than the current one (HTTP 412 on If-Match)."""

    def __init__(self, expected: int, current: int) -> None:
        self.expected = expected
        self.current = current
        super().__init__(f"plan version {expected} is stale; the current version is {current}")


def new_plan(
    *, case_id: str, agency_id: str, on: date, by: str, goals: list[Goal] | None = None
) -> PlanRevision:
    plan = SupportPlan(case_id=case_id, agency_id=agency_id, goals=goals or [], updated_on=on, updated_by=by)
    return PlanRevision(plan=plan, event=_plan_event(plan, "created", None))


def _plan_event(plan: SupportPlan, change: str, goal_id: str | None, **extra: Any) -> CaseEvent:
    return CaseEvent(
        name=CaseEventName.PLAN_UPDATED,
        case_id=plan.case_id,
        agency_id=plan.agency_id,
        occurred_on=plan.updated_on,
        actor=plan.updated_by,
        data={"change": change, "version": plan.version, "goal_id": goal_id, **extra},
    )


def _check_version(plan: SupportPlan, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != plan.version:
        raise StalePlanVersion(expected_version, plan.version)


def _revise(
    plan: SupportPlan, goals: list[Goal], *, on: date, by: str, change: str, goal_id: str | None, **extra: Any
) -> PlanRevision:
    revised = plan.model_copy(
        update={"goals": goals, "version": plan.version + 1, "updated_on": on, "updated_by": by}
    )
    return PlanRevision(plan=revised, event=_plan_event(revised, change, goal_id, **extra))


def _replace_goal(plan: SupportPlan, goal: Goal) -> list[Goal]:
    plan.goal(goal.id)  # raises GoalNotFound
    return [goal if g.id == goal.id else g for g in plan.goals]


def add_goal(
    plan: SupportPlan, goal: Goal, *, on: date, by: str, expected_version: int | None = None
) -> PlanRevision:
    _check_version(plan, expected_version)
    if any(g.id == goal.id for g in plan.goals):
        raise ValueError(f"goal {goal.id!r} is already in the plan")
    return _revise(
        plan,
        [*plan.goals, goal],
        on=on,
        by=by,
        change="goal_added",
        goal_id=goal.id,
        domain=goal.domain.value,
    )


def set_goal_status(
    plan: SupportPlan,
    goal_id: str,
    status: GoalStatus,
    *,
    on: date,
    by: str,
    expected_version: int | None = None,
) -> PlanRevision:
    _check_version(plan, expected_version)
    goal = plan.goal(goal_id)
    changed = goal.model_copy(update={"status": status, "needs_attention": False, "attention_reason": None})
    return _revise(
        plan,
        _replace_goal(plan, changed),
        on=on,
        by=by,
        change="goal_status",
        goal_id=goal_id,
        status=status.value,
    )


def add_task(
    plan: SupportPlan, goal_id: str, task: Task, *, on: date, by: str, expected_version: int | None = None
) -> PlanRevision:
    _check_version(plan, expected_version)
    goal = plan.goal(goal_id)
    if any(t.id == task.id for t in goal.tasks):
        raise ValueError(f"task {task.id!r} is already in goal {goal_id!r}")
    changed = goal.model_copy(update={"tasks": [*goal.tasks, task]})
    return _revise(
        plan,
        _replace_goal(plan, changed),
        on=on,
        by=by,
        change="task_added",
        goal_id=goal_id,
        task_id=task.id,
    )


def complete_task(
    plan: SupportPlan, goal_id: str, task_id: str, *, on: date, by: str, expected_version: int | None = None
) -> PlanRevision:
    _check_version(plan, expected_version)
    goal = plan.goal(goal_id)
    if not any(t.id == task_id for t in goal.tasks):
        raise GoalNotFound(f"no task {task_id!r} in goal {goal_id!r}")
    tasks = [t.model_copy(update={"done": True, "done_on": on}) if t.id == task_id else t for t in goal.tasks]
    changed = goal.model_copy(update={"tasks": tasks})
    if changed.status is GoalStatus.NOT_STARTED:
        changed = changed.model_copy(update={"status": GoalStatus.IN_PROGRESS})
    return _revise(
        plan, _replace_goal(plan, changed), on=on, by=by, change="task_done", goal_id=goal_id, task_id=task_id
    )


def link_service_referral(
    plan: SupportPlan,
    goal_id: str,
    service_referral_id: str,
    *,
    on: date,
    by: str,
    expected_version: int | None = None,
) -> PlanRevision:
    _check_version(plan, expected_version)
    goal = plan.goal(goal_id)
    if service_referral_id in goal.service_referral_ids:
        raise ValueError(f"service referral {service_referral_id!r} is already linked to goal {goal_id!r}")
    changed = goal.model_copy(
        update={"service_referral_ids": [*goal.service_referral_ids, service_referral_id]}
    )
    return _revise(
        plan,
        _replace_goal(plan, changed),
        on=on,
        by=by,
        change="referral_linked",
        goal_id=goal_id,
        service_referral_id=service_referral_id,
    )




STARTED_STATUSES = frozenset({ServiceReferralStatus.ACCEPTED, ServiceReferralStatus.IN_PROGRESS})
FAILED_STATUSES = frozenset(
    {ServiceReferralStatus.REJECTED, ServiceReferralStatus.CANCELLED, ServiceReferralStatus.FAILED}
)


def parse_referral_status(value: str) -> ServiceReferralStatus:
    """Accept `in_progress` as well as the published `in-progress`."""
    return ServiceReferralStatus(value.replace("_", "-"))


def _goal_after_referral(goal: Goal, referral_id: str, status: ServiceReferralStatus) -> Goal:
    if goal.status is GoalStatus.DROPPED:
        return goal  # a dropped goal stays dropped whatever the partner does
    if status in STARTED_STATUSES:
        new_status = GoalStatus.IN_PROGRESS if goal.status is GoalStatus.NOT_STARTED else goal.status
        return goal.model_copy(
            update={"status": new_status, "needs_attention": False, "attention_reason": None}
        )
    if status is ServiceReferralStatus.COMPLETED:
        return goal.model_copy(
            update={"status": GoalStatus.ACHIEVED, "needs_attention": False, "attention_reason": None}
        )
    if status in FAILED_STATUSES:
        if goal.status is GoalStatus.ACHIEVED:
            return goal
        return goal.model_copy(
            update={
                "needs_attention": True,
                "attention_reason": f"service referral {referral_id} {status.value}",
            }
        )
    return goal  # requested / received: nothing to report on the goal yet


def apply_service_referral_status(
    plan: SupportPlan, service_referral_id: str, status: str, *, on: date, by: str = "resources"
) -> PlanRevision | None:
    """Move the goals linked to the service referral; None when no goal is linked or nothing changed.

    accepted / in-progress -> in_progress (clears attention); completed -> achieved;
    rejected / cancelled / failed -> needs attention, status kept for the case manager to decide.
    """
    parsed = parse_referral_status(status)
    goals: list[Goal] = []
    moved: list[str] = []
    for goal in plan.goals:
        if service_referral_id in goal.service_referral_ids:
            after = _goal_after_referral(goal, service_referral_id, parsed)
            if after != goal:
                moved.append(goal.id)
            goals.append(after)
        else:
            goals.append(goal)
    if not moved:
        return None
    return _revise(
        plan,
        goals,
        on=on,
        by=by,
        change="service_referral_status",
        goal_id=moved[0],
        goal_ids=moved,
        service_referral_id=service_referral_id,
        referral_status=parsed.value,
    )
