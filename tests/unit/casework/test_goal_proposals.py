"""Plans from assessments (domain only): proposed goals per priority, the reason rule, priorities without a goal."""

from __future__ import annotations

import itertools
from datetime import date

import pytest

from services.casework.domain import goals
from services.casework.domain.plan import (
    DomainAssessment,
    Goal,
    GoalStatus,
    NeedDomain,
    NeedLevel,
    NeedsAssessment,
    SupportPlan,
)

TODAY = date(2026, 6, 15)


def assessment(**levels: str) -> NeedsAssessment:
    return NeedsAssessment(case_id="case-1", assessed_on=TODAY, assessed_by="cm-1", domains=[
        DomainAssessment(domain=NeedDomain(d), level=NeedLevel(level)) for d, level in levels.items()])


def empty_plan() -> SupportPlan:
    return SupportPlan(case_id="case-1", agency_id="a", updated_on=TODAY, updated_by="casework")


def ids():
    counter = itertools.count(1)
    return lambda: f"id-{next(counter)}"


def test_housing_and_employment_priorities_propose_a_goal_each_from_the_templates():
    templates = {NeedDomain.HOUSING: goals.GoalTemplate(description="a home", target_days=30, tasks=["apply"])}
    revision = goals.propose_goals(empty_plan(), assessment(housing="high", employment="moderate", legal="low"),
                                   templates, assessment_version=1, on=TODAY, by="cm-1", new_id=ids())
    assert revision is not None
    proposed = revision.plan.goals
    assert [(g.domain, g.description, g.target_date, g.proposed_by_assessment) for g in proposed] == [
        (NeedDomain.HOUSING, "a home", date(2026, 7, 15), 1),
        (NeedDomain.EMPLOYMENT, "Address the employment need identified in the assessment", date(2026, 9, 13), 1)]
    assert [t.description for t in proposed[0].tasks] == ["apply"]
    assert revision.plan.version == 2 and revision.event.data["change"] == "goals_proposed"
    assert goals.priorities_without_goal(revision.plan, [NeedDomain.HOUSING, NeedDomain.EMPLOYMENT]) == []


def test_only_priorities_without_a_live_goal_get_a_proposal():
    plan = empty_plan().model_copy(update={"goals": [
        Goal(id="g1", domain=NeedDomain.HOUSING, description="lease"),
        Goal(id="g2", domain=NeedDomain.EMPLOYMENT, description="job", status=GoalStatus.DROPPED)]})
    needs = assessment(housing="high", employment="high")
    assert goals.priorities_without_goal(plan, [NeedDomain.HOUSING, NeedDomain.EMPLOYMENT]) == [NeedDomain.EMPLOYMENT]
    revision = goals.propose_goals(plan, needs, {}, assessment_version=2, on=TODAY, by="cm-1", new_id=ids())
    assert revision is not None and [g.domain for g in revision.plan.goals[2:]] == [NeedDomain.EMPLOYMENT]
    assert goals.propose_goals(revision.plan, needs, {}, assessment_version=3, on=TODAY, by="cm-1",
                               new_id=ids()) is None
    assert goals.propose_goals(empty_plan(), assessment(legal="low"), {}, assessment_version=1, on=TODAY,
                               by="cm-1", new_id=ids()) is None


def test_a_goal_outside_every_assessed_domain_needs_a_reason():
    assessed = {NeedDomain.HOUSING, NeedDomain.LEGAL}
    assert goals.check_goal_domain(NeedDomain.HOUSING, assessed, None) is None
    assert goals.check_goal_domain(NeedDomain.EDUCATION, assessed, "  asked at intake ") == "asked at intake"
    for reason in (None, "", "   "):
        with pytest.raises(goals.GoalOutsideAssessment) as refused:
            goals.check_goal_domain(NeedDomain.EDUCATION, assessed, reason)
        assert refused.value.problem_extra["assessed_domains"] == ["housing", "legal"]
    with pytest.raises(goals.GoalOutsideAssessment):
        goals.check_goal_domain(NeedDomain.HOUSING, set(), None)  # nothing assessed yet


def test_templates_are_validated_when_a_pack_is_read():
    parsed = goals.parse_templates({"housing": {"description": "a home", "target_days": 90}})
    assert parsed[NeedDomain.HOUSING].target_days == 90
    with pytest.raises(ValueError, match="unknown need domain"):
        goals.parse_templates({"astrology": {"description": "x"}})
    with pytest.raises(ValueError):
        goals.parse_templates({"housing": {"description": "x", "colour": "red"}})
