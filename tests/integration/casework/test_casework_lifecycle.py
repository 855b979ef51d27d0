"""The case lifecycle over HTTP: every illegal transition is a 409 naming the allowed actions, program
duration bounds, the supervisor override, and ETags so two editors never overwrite each other."""

from __future__ import annotations

import threading
from datetime import date

import pytest

from services.casework.domain.lifecycle import add_months
from tests.integration.casework.conftest import outbox_events

ACTIONS = {
    "extend": {"action": "extend", "reason": "needs more time", "months": 1},
    "complete": {"action": "complete", "disposition": "dismissal", "override_reason": "exceptional progress"},
    "terminate": {"action": "terminate", "reason": "non_compliance", "detail": "missed everything"},
    "withdraw": {"action": "withdraw", "reason": "opened in error"},
}
LEGAL = {
    "pending_assignment": {"withdraw"},
    "active": {"extend", "complete", "terminate", "withdraw"},
    "extended": {"extend", "complete", "terminate", "withdraw"},
    "completed": set(),
    "terminated": set(),
    "withdrawn": set(),
}


def case_in_state(tenant, state):
    """A case of the tenant brought to `state` through the API."""
    case_id = tenant.open_case()
    if state == "pending_assignment":
        assert tenant.case_row(case_id).state == state
        return case_id
    steps = {"active": [], "extended": ["extend"], "completed": ["complete"], "terminated": ["terminate"],
             "withdrawn": ["withdraw"]}[state]
    for step in steps:
        assert tenant.transition(case_id, ACTIONS[step]).status_code == 200
    assert tenant.case_row(case_id).state == state
    return case_id


def test_every_illegal_transition_answers_409_naming_the_allowed_ones(tenant):
    tenant.add_staff("cm-1", cap=8)  # room for the five assigned cases; the sixth case below stays pending
    cases = {state: case_in_state(tenant, state) for state in LEGAL if state != "pending_assignment"}
    tenant.add_staff("cm-2", cap=1, programs=("other-program",))
    with_nobody = tenant.open_case(program="unserved")
    cases["pending_assignment"] = with_nobody
    checked = 0
    for state, case_id in cases.items():
        for action, body in ACTIONS.items():
            if action in LEGAL[state]:
                continue
            before = tenant.get_case(case_id).json()
            response = tenant.transition(case_id, body)
            assert response.status_code == 409, (state, action, response.text)
            problem = response.json()
            assert response.headers["Content-Type"] == "application/problem+json"
            assert problem["type"].endswith("/invalid-transition")
            assert problem["current_state"] == state
            assert set(problem["allowed"]) == set(before["allowed_transitions"])
            assert set(problem["allowed"]) - {"assign", "reassign"} == LEGAL[state]
            assert tenant.get_case(case_id).json()["version"] == before["version"]  # nothing changed
            checked += 1
    assert checked == 15


def test_expected_end_and_extensions_stay_inside_the_programs_bounds(tenant, engine):
    tenant.add_staff("cm-1")
    case_id = tenant.open_case(min_months=6, max_months=9)
    case = tenant.get_case(case_id).json()
    start = date.fromisoformat(case["start_date"])
    assert case["expected_end_date"] == add_months(start, 6).isoformat()
    assert case["latest_end"] == add_months(start, 9).isoformat()

    too_far = tenant.transition(case_id, {"action": "extend", "reason": "more time", "months": 4})
    assert too_far.status_code == 409
    assert too_far.json()["type"].endswith("/duration-exceeded")
    assert too_far.json()["latest_end"] == add_months(start, 9).isoformat()
    assert too_far.json()["requested_end"] == add_months(start, 10).isoformat()
    assert too_far.json()["title"] == "Conflict"
    assert tenant.transition(case_id, {"action": "extend", "reason": "more time", "months": 3}).status_code == 200
    again = tenant.transition(case_id, {"action": "extend", "reason": "even more", "months": 1})
    assert again.status_code == 409 and again.json()["type"].endswith("/duration-exceeded")
    extended = tenant.get_case(case_id).json()
    assert (extended["state"], extended["expected_end_date"], extended["extensions"]) == (
        "extended", add_months(start, 9).isoformat(), 1)
    updated = outbox_events(engine, tenant.slug, "case.plan_updated")
    assert [(e["data"]["change"], e["data"]["expected_end"]) for e in updated] == [
        ("extended", add_months(start, 9).isoformat())]


def test_completing_before_the_minimum_needs_a_supervisors_override(tenant, engine):
    tenant.add_staff("cm-1")
    case_id = tenant.open_case()
    manager = tenant.manager_token("cm-1")
    early = tenant.transition(case_id, {"action": "complete", "disposition": "dismissal"}, token=manager)
    assert early.status_code == 409
    assert early.json()["type"].endswith("/override-required")
    assert "earliest_completion" in early.json() and early.json()["title"] == "Conflict"
    self_approved = tenant.transition(case_id, {"action": "complete", "override_reason": "doing great"},
                                      token=manager)
    assert self_approved.status_code == 403
    assert self_approved.json()["type"].endswith("/override-forbidden")
    assert self_approved.json()["detail"] == "only a supervisor may override the program's minimum duration"
    approved = tenant.transition(case_id, {"action": "complete", "disposition": "one_day_probation",
                                           "override_reason": "all conditions met early"})
    assert approved.status_code == 200, approved.text
    assert approved.json()["override"]["approved_by"] == "sup-1"
    completed = outbox_events(engine, tenant.slug, "case.completed")
    assert [e["data"]["disposition"] for e in completed] == ["one_day_probation"]
    on_time = tenant.open_case()
    later = add_months(date.fromisoformat(tenant.get_case(on_time).json()["start_date"]), 6)
    normal = tenant.transition(on_time, {"action": "complete", "on": later.isoformat()}, token=manager)
    assert normal.status_code == 200, normal.text


def test_terminate_and_withdraw_publish_their_events(tenant, engine):
    tenant.add_staff("cm-1")
    failed = tenant.open_case()
    withdrawn = tenant.open_case()
    assert tenant.transition(failed, ACTIONS["terminate"]).status_code == 200
    assert tenant.transition(withdrawn, ACTIONS["withdraw"]).status_code == 200
    terminated = outbox_events(engine, tenant.slug, "case.terminated")
    assert [(e["subject"], e["data"]["reason"], e["data"]["detail"]) for e in terminated] == [
        (failed, "non_compliance", "missed everything")]
    assert [e["subject"] for e in outbox_events(engine, tenant.slug, "case.withdrawn")] == [withdrawn]


def test_a_transition_without_if_match_is_428_and_with_a_stale_etag_412(tenant):
    tenant.add_staff("cm-1")
    case_id = tenant.open_case()
    stale = tenant.get_case(case_id).headers["ETag"]
    missing = tenant.api.post(f"/v1/cases/{case_id}/transitions", token=tenant.supervisor, json=ACTIONS["extend"])
    assert missing.status_code == 428
    first = tenant.api.post(f"/v1/cases/{case_id}/transitions", token=tenant.supervisor, json=ACTIONS["extend"],
                            headers={"If-Match": stale})
    assert first.status_code == 200
    second = tenant.api.post(f"/v1/cases/{case_id}/transitions", token=tenant.supervisor, json=ACTIONS["extend"],
                             headers={"If-Match": stale})
    assert second.status_code == 412
    assert second.json()["current_etag"] == first.headers["ETag"]


@pytest.mark.parametrize("resource", ["case", "plan"])
def test_two_concurrent_updates_with_the_same_etag_one_wins_one_gets_412(tenant, resource):
    tenant.add_staff("cm-1")
    case_id = tenant.open_case()
    if resource == "case":
        path, body = f"/v1/cases/{case_id}/transitions", ACTIONS["extend"]
        tag = tenant.get_case(case_id).headers["ETag"]
    else:
        path, body = f"/v1/cases/{case_id}/plan/changes", {"op": "add_goal", "domain": "housing",
                                                           "description": "stable housing",
                                                           "reason": "housing need reported before assessment"}
        tag = tenant.api.get(f"/v1/cases/{case_id}/plan", token=tenant.supervisor).headers["ETag"]
    statuses: list[int] = []
    barrier = threading.Barrier(2)

    def update() -> None:
        barrier.wait()
        statuses.append(tenant.api.post(path, token=tenant.supervisor, json=body,
                                        headers={"If-Match": tag}).status_code)

    threads = [threading.Thread(target=update) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(statuses) == [200, 412]
