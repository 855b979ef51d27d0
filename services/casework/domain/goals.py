"""Plans from assessments: the goals an assessment proposes for its priority domains (from the agency's
templates), the rule that a goal outside every assessed domain says why, and the priorities still without a goal.

Templates are data (the agency's casework pack, `services/casework/packs/`); a domain the pack leaves out gets the
default pack's template, and a domain neither names gets `fallback_template`, so a priority never goes without
a proposal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from services.casework.domain.lifecycle import CaseworkError
from services.casework.domain.plan import (
    Goal,
    GoalStatus,
    NeedDomain,
    NeedsAssessment,
    PlanRevision,
    SupportPlan,
    Task,
    _revise,
)


class GoalTemplate(BaseModel):
    """What a priority in one domain proposes: a goal, a target some days out, first tasks."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    description: str = Field(min_length=1, max_length=2000)
    target_days: int | None = Field(default=None, ge=1, le=730)
    tasks: list[str] = Field(default_factory=list, max_length=20)


def fallback_template(domain: NeedDomain) -> GoalTemplate:
    label = domain.value.replace("_", " ")
    return GoalTemplate(description=f"Address the {label} need identified in the assessment", target_days=90)


def template_for(domain: NeedDomain, templates: Mapping[NeedDomain, GoalTemplate]) -> GoalTemplate:
    return templates.get(domain) or fallback_template(domain)


def live_goal_domains(plan: SupportPlan) -> set[NeedDomain]:
    """Domains with a goal that still counts (a dropped goal does not)."""
    return {g.domain for g in plan.goals if g.status is not GoalStatus.DROPPED}


def priorities_without_goal(plan: SupportPlan, priorities: Sequence[NeedDomain]) -> list[NeedDomain]:
    covered = live_goal_domains(plan)
    return [d for d in priorities if d not in covered]


def propose_goals(
    plan: SupportPlan, assessment: NeedsAssessment, templates: Mapping[NeedDomain, GoalTemplate], *,
    assessment_version: int, on: date, by: str, new_id: Callable[[], str],
) -> PlanRevision | None:
    """The next plan version with one proposed goal per priority domain that has no live goal yet (the
    template's description, target date and tasks); None when every priority already has one."""
    missing = priorities_without_goal(plan, [d.domain for d in assessment.priorities()])
    if not missing:
        return None
    proposed = []
    for domain in missing:
        template = template_for(domain, templates)
        proposed.append(Goal(
            id=new_id(), domain=domain, description=template.description,
            target_date=on + timedelta(days=template.target_days) if template.target_days else None,
            tasks=[Task(id=new_id(), description=text) for text in template.tasks],
            proposed_by_assessment=assessment_version,
        ))
    return _revise(plan, [*plan.goals, *proposed], on=on, by=by, change="goals_proposed",
                   goal_id=proposed[0].id, goal_ids=[g.id for g in proposed],
                   domains=[d.value for d in missing], assessment_version=assessment_version)


class GoalOutsideAssessment(CaseworkError):
    """A goal in a domain no assessment of the case covered, without a reason (422 goal-outside-assessment)."""

    def __init__(self, domain: NeedDomain, assessed: Iterable[NeedDomain]) -> None:
        names = sorted(d.value for d in assessed)
        self.problem_extra: dict[str, Any] = {
            "assessed_domains": names,
            "errors": [{"field": "reason", "message": f"a goal in {domain.value}, which no assessment of this case "
                        "covered, needs a reason", "type": "missing"}]}
        super().__init__(f"no assessment of this case covered {domain.value} (assessed: "
                         f"{', '.join(names) or 'none yet'}); say why the goal belongs in the plan")


def check_goal_domain(domain: NeedDomain, assessed: Iterable[NeedDomain], reason: str | None) -> str | None:
    """The reason to keep on the goal (None inside the assessed domains); `GoalOutsideAssessment` when a goal
    outside every domain any assessment of the case covered (at any level) has no reason."""
    covered = set(assessed)
    if domain in covered:
        return None
    if reason is None or not reason.strip():
        raise GoalOutsideAssessment(domain, covered)
    return reason.strip()


def parse_templates(raw: Mapping[str, Any]) -> dict[NeedDomain, GoalTemplate]:
    """A pack's `goal_templates` section; an unknown domain or a malformed template is refused (ValueError)."""
    out: dict[NeedDomain, GoalTemplate] = {}
    for key, value in raw.items():
        try:
            domain = NeedDomain(key)
        except ValueError:
            raise ValueError(f"goal_templates: unknown need domain {key!r}") from None
        out[domain] = GoalTemplate.model_validate(value)
    return out
