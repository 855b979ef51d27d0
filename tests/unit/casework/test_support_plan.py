"""Needs assessment and the versioned support plan, moved by service-referral status changes."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from services.casework.domain.lifecycle import CaseEventName
from services.casework.domain.plan import (
    DOMAIN_NEED_CATEGORIES,
    DomainAssessment,
    Goal,
    GoalNotFound,
    GoalStatus,
    NeedDomain,
    NeedLevel,
    NeedsAssessment,
    StalePlanVersion,
    SupportPlan,
    Task,
    add_goal,
    add_task,
    apply_service_referral_status,
    complete_task,
    domain_for_category,
    link_service_referral,
    new_plan,
    parse_domain,
    set_goal_status,
)

ON = date(2025, 3, 1)
RESOURCES_CATEGORIES = [
    "housing",
    "mental_health_crisis",
    "substance_use",
    "physical_health",
    "employment",
    "education",
    "legal",
    "family_parenting",
    "violence_prevention",
    "hiv_aids",
]


def plan_with_linked_goal(status: GoalStatus = GoalStatus.NOT_STARTED) -> SupportPlan:
    plan = new_plan(case_id="case-1", agency_id="stl-cao", on=ON, by="cm-1").plan
    plan = add_goal(
        plan,
        Goal(
            id="g-1",
            domain=NeedDomain.HOUSING,
            description="Stable housing",
            target_date=date(2025, 6, 1),
            status=status,
        ),
        on=ON,
        by="cm-1",
    ).plan
    return link_service_referral(plan, "g-1", "sr-1", on=ON, by="cm-1").plan


def test_every_resources_need_category_maps_to_exactly_one_domain() -> None:
    for category in RESOURCES_CATEGORIES:
        owners = [d for d, cats in DOMAIN_NEED_CATEGORIES.items() if category in cats]
        assert owners == [domain_for_category(category)], category
    assert set(RESOURCES_CATEGORIES) == {c for cats in DOMAIN_NEED_CATEGORIES.values() for c in cats}


def test_family_parenting_is_accepted_as_family_social_support() -> None:
    assert parse_domain("family_parenting") is NeedDomain.FAMILY_SOCIAL_SUPPORT
    goal = Goal(id="g", domain="family_parenting", description="Parenting class")  # type: ignore[arg-type]
    assert goal.domain is NeedDomain.FAMILY_SOCIAL_SUPPORT
    with pytest.raises(ValueError):
        parse_domain("astrology")


def test_assessment_rejects_a_domain_assessed_twice_and_ranks_priorities() -> None:
    with pytest.raises(ValidationError, match="housing"):
        NeedsAssessment(
            case_id="c",
            assessed_on=ON,
            assessed_by="cm",
            domains=[
                DomainAssessment(domain=NeedDomain.HOUSING, level=NeedLevel.LOW),
                DomainAssessment(domain=NeedDomain.HOUSING, level=NeedLevel.HIGH),
            ],
        )
    assessment = NeedsAssessment(
        case_id="c",
        assessed_on=ON,
        assessed_by="cm",
        domains=[
            DomainAssessment(domain=NeedDomain.EMPLOYMENT, level=NeedLevel.MODERATE),
            DomainAssessment(domain=NeedDomain.LEGAL, level=NeedLevel.HIGH, notes="license suspended"),
            DomainAssessment(domain=NeedDomain.HOUSING, level=NeedLevel.MODERATE),
            DomainAssessment(domain=NeedDomain.EDUCATION, level=NeedLevel.LOW),
        ],
    )
    assert [d.domain for d in assessment.priorities()] == [
        NeedDomain.LEGAL,
        NeedDomain.HOUSING,
        NeedDomain.EMPLOYMENT,
    ]


def test_each_plan_change_makes_a_new_version_and_announces_it() -> None:
    created = new_plan(case_id="case-1", agency_id="stl-cao", on=ON, by="cm-1")
    assert created.plan.version == 1
    added = add_goal(
        created.plan,
        Goal(id="g-1", domain=NeedDomain.EMPLOYMENT, description="Job"),
        on=ON,
        by="cm-1",
        expected_version=1,
    )
    tasked = add_task(
        added.plan, "g-1", Task(id="t-1", description="Résumé", due_date=date(2025, 3, 15)), on=ON, by="cm-1"
    )
    done = complete_task(tasked.plan, "g-1", "t-1", on=date(2025, 3, 10), by="cm-1")
    assert [r.plan.version for r in (created, added, tasked, done)] == [1, 2, 3, 4]
    assert done.plan.goal("g-1").status is GoalStatus.IN_PROGRESS  # work has begun
    assert done.plan.goal("g-1").tasks[0].done_on == date(2025, 3, 10)
    assert created.plan.goals == [] and added.plan.goal("g-1").tasks == []  # earlier versions unchanged
    assert done.event.name is CaseEventName.PLAN_UPDATED
    assert (done.event.data["version"], done.event.data["change"]) == (4, "task_done")


def test_editing_a_stale_plan_version_is_refused() -> None:
    plan = plan_with_linked_goal()  # version 3
    with pytest.raises(StalePlanVersion) as caught:
        set_goal_status(plan, "g-1", GoalStatus.DROPPED, on=ON, by="cm-1", expected_version=2)
    assert (caught.value.expected, caught.value.current) == (2, 3)


def test_unknown_goal_is_reported() -> None:
    with pytest.raises(GoalNotFound):
        set_goal_status(plan_with_linked_goal(), "nope", GoalStatus.ACHIEVED, on=ON, by="cm-1")


@pytest.mark.parametrize(
    ("referral_status", "goal_status"),
    [
        ("accepted", GoalStatus.IN_PROGRESS),
        ("in-progress", GoalStatus.IN_PROGRESS),
        ("in_progress", GoalStatus.IN_PROGRESS),
        ("completed", GoalStatus.ACHIEVED),
    ],
)
def test_partner_progress_moves_the_linked_goal(referral_status: str, goal_status: GoalStatus) -> None:
    plan = plan_with_linked_goal()
    revision = apply_service_referral_status(plan, "sr-1", referral_status, on=date(2025, 4, 1))
    assert revision is not None
    assert revision.plan.goal("g-1").status is goal_status
    assert revision.plan.version == plan.version + 1
    assert revision.event.data["goal_ids"] == ["g-1"]


@pytest.mark.parametrize("referral_status", ["rejected", "cancelled", "failed"])
def test_failed_service_referral_flags_goal_for_attention(referral_status: str) -> None:
    plan = plan_with_linked_goal(GoalStatus.IN_PROGRESS)
    revision = apply_service_referral_status(plan, "sr-1", referral_status, on=date(2025, 4, 1))
    assert revision is not None
    goal = revision.plan.goal("g-1")
    assert goal.status is GoalStatus.IN_PROGRESS  # the case manager decides what happens next
    assert goal.needs_attention and goal.attention_reason == f"service referral sr-1 {referral_status}"


def test_a_new_accepted_referral_clears_the_attention_flag() -> None:
    plan = plan_with_linked_goal()
    flagged = apply_service_referral_status(plan, "sr-1", "rejected", on=ON)
    assert flagged is not None
    relinked = link_service_referral(flagged.plan, "g-1", "sr-2", on=ON, by="cm-1").plan
    accepted = apply_service_referral_status(relinked, "sr-2", "accepted", on=ON)
    assert accepted is not None
    goal = accepted.plan.goal("g-1")
    assert (goal.status, goal.needs_attention, goal.attention_reason) == (GoalStatus.IN_PROGRESS, False, None)


def test_same_status_twice_makes_no_new_version() -> None:
    plan = plan_with_linked_goal()
    first = apply_service_referral_status(plan, "sr-1", "accepted", on=ON)
    assert first is not None
    assert apply_service_referral_status(first.plan, "sr-1", "accepted", on=ON) is None


@pytest.mark.parametrize("referral_status", ["requested", "received"])
def test_early_referral_statuses_leave_the_plan_alone(referral_status: str) -> None:
    assert apply_service_referral_status(plan_with_linked_goal(), "sr-1", referral_status, on=ON) is None


def test_status_of_an_unlinked_referral_or_a_dropped_goal_changes_nothing() -> None:
    plan = plan_with_linked_goal()
    assert apply_service_referral_status(plan, "sr-other", "completed", on=ON) is None
    dropped = set_goal_status(plan, "g-1", GoalStatus.DROPPED, on=ON, by="cm-1").plan
    assert apply_service_referral_status(dropped, "sr-1", "completed", on=ON) is None


def test_unknown_referral_status_is_rejected() -> None:
    with pytest.raises(ValueError):
        apply_service_referral_status(plan_with_linked_goal(), "sr-1", "teleported", on=ON)
