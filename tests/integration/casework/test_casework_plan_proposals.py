"""Plans from assessments: an assessment proposes a goal (the agency's template) for each priority domain, a
goal in a domain no assessment covered needs a reason, and the plan lists priorities still without a goal."""

from __future__ import annotations

import pytest

from services.casework.domain.plan import NeedDomain
from services.casework.packs import goal_templates
from tests.integration.casework.conftest import outbox_events


@pytest.fixture
def case_id(tenant):
    tenant.add_staff("cm-1")
    return tenant.open_case()


def plan(tenant, case_id):
    response = tenant.api.get(f"/v1/cases/{case_id}/plan", token=tenant.supervisor)
    assert response.status_code == 200, response.text
    return response


def change(tenant, case_id, body):
    tag = plan(tenant, case_id).headers["ETag"]
    return tenant.api.post(f"/v1/cases/{case_id}/plan/changes", token=tenant.manager_token(), json=body,
                           headers={"If-Match": tag})


def test_an_assessment_with_housing_and_employment_proposes_a_goal_for_each(tenant, case_id, engine):
    assessed = tenant.api.post(f"/v1/cases/{case_id}/assessments", token=tenant.manager_token(), json={"domains": [
        {"domain": "housing", "level": "high"}, {"domain": "employment", "level": "moderate"},
        {"domain": "legal", "level": "low"}]})
    assert assessed.status_code == 201, assessed.text
    current = plan(tenant, case_id).json()
    assert [(g["domain"], g["proposed_by_assessment"], g["status"]) for g in current["goals"]] == [
        ("housing", 1, "not_started"), ("employment", 1, "not_started")]
    # the generic default pack, not an agency's: the test agency has no pack of its own
    defaults = goal_templates(tenant.slug)
    assert [g["description"] for g in current["goals"]] == [
        defaults[NeedDomain.HOUSING].description, defaults[NeedDomain.EMPLOYMENT].description]
    assert all(g["target_date"] and g["tasks"] for g in current["goals"])
    assert (current["version"], current["priorities"], current["priorities_without_goal"]) == (
        2, ["housing", "employment"], [])
    assert [e["data"]["change"] for e in outbox_events(engine, tenant.slug, "case.plan_updated")] == [
        "goals_proposed"]
    # the same priorities again propose nothing new
    again = tenant.api.post(f"/v1/cases/{case_id}/assessments", token=tenant.manager_token(), json={"domains": [
        {"domain": "housing", "level": "high"}, {"domain": "employment", "level": "high"}]})
    assert again.status_code == 201
    assert plan(tenant, case_id).json()["version"] == 2


def test_a_goal_outside_every_assessed_domain_needs_a_reason(tenant, case_id):
    tenant.api.post(f"/v1/cases/{case_id}/assessments", token=tenant.manager_token(), json={"domains": [
        {"domain": "housing", "level": "high"}, {"domain": "employment", "level": "moderate"},
        {"domain": "legal", "level": "low"}]})
    silent = change(tenant, case_id, {"op": "add_goal", "domain": "education", "description": "a GED"})
    assert silent.status_code == 422, silent.text
    problem = silent.json()
    assert problem["type"].endswith("/goal-outside-assessment")
    assert problem["assessed_domains"] == ["employment", "housing", "legal"]
    assert problem["errors"][0]["field"] == "reason"
    assert len(plan(tenant, case_id).json()["goals"]) == 2
    explained = change(tenant, case_id, {"op": "add_goal", "domain": "education", "description": "a GED",
                                         "reason": "the participant asked for it at intake"})
    assert explained.status_code == 200, explained.text
    added = explained.json()["goals"][-1]
    assert (added["domain"], added["outside_assessment_reason"], added["proposed_by_assessment"]) == (
        "education", "the participant asked for it at intake", None)
    # a domain assessed at a low level was assessed: no reason needed
    low = change(tenant, case_id, {"op": "add_goal", "domain": "legal", "description": "expungement"})
    assert low.status_code == 200 and low.json()["goals"][-1]["outside_assessment_reason"] is None


def test_the_plan_lists_priorities_without_a_goal(tenant, case_id):
    tenant.api.post(f"/v1/cases/{case_id}/assessments", token=tenant.manager_token(), json={"domains": [
        {"domain": "housing", "level": "high"}, {"domain": "employment", "level": "moderate"}]})
    employment = next(g for g in plan(tenant, case_id).json()["goals"] if g["domain"] == "employment")
    dropped = change(tenant, case_id, {"op": "set_goal_status", "goal_id": employment["id"], "status": "dropped"})
    assert dropped.status_code == 200, dropped.text
    assert (dropped.json()["priorities"], dropped.json()["priorities_without_goal"]) == (
        ["housing", "employment"], ["employment"])
    assert plan(tenant, case_id).json()["priorities_without_goal"] == ["employment"]
    # before any assessment there are no priorities, and every goal needs a reason
    fresh = tenant.open_case()
    empty = plan(tenant, fresh).json()
    assert (empty["priorities"], empty["priorities_without_goal"]) == ([], [])
    assert change(tenant, fresh, {"op": "add_goal", "domain": "housing", "description": "a lease"}).status_code == 422


def test_the_demo_agencys_pack_has_its_own_housing_template_and_defaults_for_the_rest():
    templates = goal_templates("stl-cao")
    assert templates["housing"].description == "Stable housing within 90 days"
    assert templates["legal"].description == goal_templates("default")["legal"].description
    assert goal_templates("../etc") == goal_templates("default")
    assert set(goal_templates("default")) == set(NeedDomain)  # the safe default: every domain has a proposal
