"""Conditions that count: completion checks the case's conditions (a supervisor waives by id, with a reason,
audited; the minimum's override never waives), payment and hours ledgers with derived balances, condition edits
and waivers with If-Match and history, and the timeline items these facts give a case."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from services.casework.models import ConditionPayment
from services.casework.usecases.conditions import timeline_items
from tests.integration.casework.conftest import outbox_events


@pytest.fixture
def case_id(tenant):
    tenant.add_staff("cm-1")
    return tenant.open_case()


def add_condition(tenant, case_id, body, token=None):
    created = tenant.api.post(f"/v1/cases/{case_id}/conditions", token=token or tenant.manager_token(), json=body)
    assert created.status_code == 201, created.text
    return created


def restitution(tenant, case_id, amount="300.00"):
    return add_condition(tenant, case_id, {"kind": "make_whole", "description": "restitution to the store",
                                           "unit": "dollars", "required_amount": amount})


def pay(tenant, case_id, condition_id, amount, *, on=None, key=None, token=None, **extra):
    headers = {"Idempotency-Key": key} if key else {}
    return tenant.api.post(f"/v1/cases/{case_id}/conditions/{condition_id}/payments",
                           token=token or tenant.manager_token(), headers=headers,
                           json={"paid_on": (on or date.today()).isoformat(), "amount": amount,
                                 "method": "money_order", **extra})


def condition(tenant, case_id, condition_id):
    response = tenant.api.get(f"/v1/cases/{case_id}/conditions/{condition_id}", token=tenant.supervisor)
    assert response.status_code == 200, response.text
    return response


def trail(tenant):
    return tenant.api.get("/v1/audit", token=tenant.auditor, params={"limit": 200}).json()["items"]


def test_unpaid_restitution_blocks_completion_until_a_supervisor_waives_it_by_id(tenant, case_id, engine):
    owed = restitution(tenant, case_id).json()["id"]
    assert pay(tenant, case_id, owed, "150.00", receipt_number="R-1001").status_code == 201
    general = add_condition(tenant, case_id, {"kind": "general", "description": "no new arrests"}).json()["id"]
    tag = condition(tenant, case_id, general).headers["ETag"]
    assert tenant.api.post(f"/v1/cases/{case_id}/conditions/{general}/met", token=tenant.manager_token(), json={},
                           headers={"If-Match": tag}).status_code == 200

    # the minimum-duration override is not a waiver of conditions
    early = tenant.transition(case_id, {"action": "complete", "override_reason": "exceptional progress"})
    assert early.status_code == 409, early.text
    problem = early.json()
    assert problem["type"].endswith("/conditions-unmet") and problem["title"] == "Conflict"
    assert problem["unmet_conditions"] == [{
        "condition_id": owed, "kind": "make_whole", "description": "restitution to the store",
        "unmet": "$150.00 of $300.00 outstanding", "outstanding": "150.00", "unit": "dollars"}]
    assert owed in problem["detail"]
    assert tenant.get_case(case_id).json()["state"] == "active"

    # a case manager cannot waive, even after the minimum
    later = (date.today() + timedelta(days=200)).isoformat()
    by_manager = tenant.transition(case_id, {"action": "complete", "on": later, "waive_conditions": {
        "condition_ids": [owed], "reason": "cannot pay"}}, token=tenant.manager_token())
    assert by_manager.status_code == 403, by_manager.text
    assert by_manager.json()["type"].endswith("/override-forbidden")
    assert by_manager.json()["detail"] == "only a supervisor may waive a condition"
    # a waiver must name unmet conditions of the case, nothing else
    stray = tenant.transition(case_id, {"action": "complete", "override_reason": "exceptional progress",
                                        "waive_conditions": {"condition_ids": [owed, general],
                                                             "reason": "cannot pay"}})
    assert stray.status_code == 422 and stray.json()["type"].endswith("/waiver-not-applicable")
    assert condition(tenant, case_id, owed).json()["waived"] is False

    done = tenant.transition(case_id, {"action": "complete", "override_reason": "exceptional progress",
                                       "waive_conditions": {"condition_ids": [owed],
                                                            "reason": "victim agreed to the paid half"}})
    assert done.status_code == 200, done.text
    assert done.json()["state"] == "completed"
    waived = condition(tenant, case_id, owed).json()
    assert (waived["waived"], waived["waived_by"], waived["waiver_reason"], waived["remaining"]) == (
        True, "sup-1", "victim agreed to the paid half", "150.00")
    history = tenant.api.get(f"/v1/cases/{case_id}/conditions/{owed}/history", token=tenant.supervisor).json()
    assert [(h["action"], h["changed_by"], h["reason"]) for h in history] == [
        ("waived_at_completion", "sup-1", "victim agreed to the paid half")]
    rows = trail(tenant)
    assert ("condition.waived", owed, "sup-1", "success") in {
        (r["action"], r["resource_id"], r["actor"], r["outcome"]) for r in rows}
    assert ("case.override", case_id, "cm-1", "denied") in {
        (r["action"], r["resource_id"], r["actor"], r["outcome"]) for r in rows}
    completed = next(r for r in rows if r["action"] == "case.complete")
    assert completed["detail"]["waived_conditions"] == [owed]
    assert [e["data"]["case_id"] for e in outbox_events(engine, tenant.slug, "case.completed")] == [case_id]


def test_a_case_whose_conditions_are_met_completes_without_a_waiver(tenant, case_id):
    owed = restitution(tenant, case_id, "150.00").json()["id"]
    assert pay(tenant, case_id, owed, "150").status_code == 201
    later = (date.today() + timedelta(days=200)).isoformat()
    done = tenant.transition(case_id, {"action": "complete", "on": later}, token=tenant.manager_token())
    assert done.status_code == 200, done.text


def test_payments_make_a_ledger_and_the_balance_is_derived_from_it(tenant, case_id, engine):
    owed = restitution(tenant, case_id).json()["id"]
    first = pay(tenant, case_id, owed, "100.50", on=date.today() - timedelta(days=3), key="pay-1",
                receipt_number="R-1")
    assert first.status_code == 201, first.text
    assert (first.json()["amount"], first.json()["amount_cents"], first.json()["recorded_by"]) == ("100.50", 10050,
                                                                                                  "cm-1")
    again = pay(tenant, case_id, owed, "100.50", on=date.today() - timedelta(days=3), key="pay-1",
                receipt_number="R-1")
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert pay(tenant, case_id, owed, 49.5, token=tenant.supervisor).status_code == 201
    standing = condition(tenant, case_id, owed).json()
    assert (standing["completed_amount"], standing["remaining"], standing["percent_complete"], standing["met"]) == (
        "150.00", "150.00", "50", False)

    for amount, on, field in (("0", None, "amount"), ("-5", None, "amount"), ("10.001", None, "amount"),
                              ("10", date.today() + timedelta(days=1), "paid_on")):
        refused = pay(tenant, case_id, owed, amount, on=on)
        assert refused.status_code == 422, (amount, refused.text)
        assert field in str(refused.json()["errors"])
    hours_on_money = tenant.api.post(f"/v1/cases/{case_id}/conditions/{owed}/hours", token=tenant.manager_token(),
                                     json={"served_on": date.today().isoformat(), "hours": "2", "site": "food bank",
                                           "verified_by": "site lead"})
    assert hours_on_money.status_code == 409 and hours_on_money.json()["type"].endswith("/condition-progress")
    stranger = pay(tenant, case_id, owed, "1", token=tenant.manager_token("cm-2"))
    assert stranger.status_code == 403

    # a payment over the balance is kept, and shown as overpaid (never a negative balance)
    assert pay(tenant, case_id, owed, "200").status_code == 201
    over = condition(tenant, case_id, owed).json()
    assert (over["remaining"], over["overpaid"], over["met"], over["percent_complete"]) == (
        "0.00", "50.00", True, "100")
    assert over["met_on"] == date.today().isoformat()

    page = tenant.api.get(f"/v1/cases/{case_id}/conditions/{owed}/payments", token=tenant.auditor,
                          params={"limit": 2})
    assert page.status_code == 200, page.text
    assert [p["amount"] for p in page.json()["items"]] == ["100.50", "49.50"] and page.json()["next_cursor"]
    rest = tenant.api.get(f"/v1/cases/{case_id}/conditions/{owed}/payments", token=tenant.auditor,
                          params={"limit": 2, "cursor": page.json()["next_cursor"]}).json()
    assert [p["amount"] for p in rest["items"]] == ["200.00"] and rest["next_cursor"] is None
    # the ledger is the only truth: no running-total column, the rows add up to what the API shows
    assert "completed_amount" not in {c["name"] for c in inspect(engine).get_columns("case_condition")}
    with Session(engine) as session:
        cents = session.scalars(select(ConditionPayment.amount_cents).where(ConditionPayment.condition_id == owed))
        assert sum(cents) == 35000
    actions = [(r["action"], r["resource_id"]) for r in trail(tenant)]
    assert actions.count(("condition.payment_recorded", owed)) == 3
    assert ("condition.payments_listed", owed) in actions


def test_community_service_hours_make_a_ledger_too(tenant, case_id):
    service = add_condition(tenant, case_id, {"kind": "make_whole", "description": "community service",
                                              "unit": "hours", "required_amount": "40"}).json()["id"]
    path = f"/v1/cases/{case_id}/conditions/{service}/hours"
    token = tenant.manager_token()
    first_day, second_day = date.today() - timedelta(days=10), date.today() - timedelta(days=2)
    first = tenant.api.post(path, token=token, headers={"Idempotency-Key": "h-1"}, json={
        "served_on": first_day.isoformat(), "hours": "12.5", "site": "Food bank", "verified_by": "R. Site Lead"})
    assert first.status_code == 201, first.text
    assert (first.json()["hours"], first.json()["verified_by"], first.json()["recorded_by"]) == (
        "12.50", "R. Site Lead", "cm-1")
    half = condition(tenant, case_id, service).json()
    assert (half["completed_amount"], half["remaining"], half["met"]) == ("12.50", "27.50", False)
    for hours, served_on in (("0", date.today()), ("25", date.today()), ("2", date.today() + timedelta(days=1))):
        refused = tenant.api.post(path, token=token, json={"served_on": served_on.isoformat(), "hours": hours,
                                                           "site": "Food bank", "verified_by": "R. Site Lead"})
        assert refused.status_code == 422, (hours, refused.text)
    assert pay(tenant, case_id, service, "5").status_code == 409  # an hours condition takes no payments
    second = tenant.api.post(path, token=token, json={
        "served_on": second_day.isoformat(), "hours": 20, "site": "Park cleanup", "verified_by": "M. Ranger"})
    third = tenant.api.post(path, token=token, json={
        "served_on": date.today().isoformat(), "hours": "7.5", "site": "Park cleanup", "verified_by": "M. Ranger"})
    assert second.status_code == third.status_code == 201
    met = condition(tenant, case_id, service).json()
    assert (met["completed_amount"], met["remaining"], met["met"], met["met_on"]) == (
        "40.00", "0.00", True, date.today().isoformat())
    listed = tenant.api.get(path, token=tenant.supervisor).json()
    assert [h["site"] for h in listed["items"]] == ["Food bank", "Park cleanup", "Park cleanup"]


def test_a_condition_is_edited_and_waived_with_if_match_and_its_history_kept(tenant, case_id):
    owed = restitution(tenant, case_id)
    condition_id, path = owed.json()["id"], f"/v1/cases/{case_id}/conditions/{owed.json()['id']}"
    manager = tenant.manager_token()
    no_tag = tenant.api.request("PATCH", path, token=manager, json={"description": "restitution", "reason": "typo"})
    assert no_tag.status_code == 428
    edited = tenant.api.request("PATCH", path, token=manager, headers={"If-Match": owed.headers["ETag"]},
                              json={"required_amount": "250.00", "reason": "court amended the order"})
    assert edited.status_code == 200, edited.text
    assert (edited.json()["required_amount"], edited.json()["remaining"], edited.json()["version"]) == (
        "250.00", "250.00", 2)
    stale = tenant.api.request("PATCH", path, token=manager, headers={"If-Match": owed.headers["ETag"]},
                             json={"description": "x", "reason": "y"})
    assert stale.status_code == 412
    waive_by_manager = tenant.api.request("PATCH", path, token=manager, headers={"If-Match": edited.headers["ETag"]},
                                        json={"waive": True, "reason": "cannot pay"})
    assert waive_by_manager.status_code == 403 and waive_by_manager.json()["type"].endswith("/override-forbidden")
    no_reason = tenant.api.request("PATCH", path, token=tenant.supervisor, headers={"If-Match": edited.headers["ETag"]},
                                 json={"waive": True})
    assert no_reason.status_code == 422
    nothing = tenant.api.request("PATCH", path, token=tenant.supervisor, headers={"If-Match": edited.headers["ETag"]},
                               json={"reason": "just looking"})
    assert nothing.status_code == 409 and nothing.json()["type"].endswith("/condition-edit-refused")
    waived = tenant.api.request("PATCH", path, token=tenant.supervisor, headers={"If-Match": edited.headers["ETag"]},
                              json={"waive": True, "reason": "victim declined restitution"})
    assert waived.status_code == 200, waived.text
    assert (waived.json()["waived"], waived.json()["waived_by"], waived.json()["met"]) == (True, "sup-1", False)
    settled = tenant.api.request("PATCH", path, token=tenant.supervisor, headers={"If-Match": waived.headers["ETag"]},
                               json={"description": "changed", "reason": "late edit"})
    assert settled.status_code == 409
    history = tenant.api.get(f"{path}/history", token=tenant.auditor).json()
    assert [(h["version"], h["action"], h["changes"], h["changed_by"], h["reason"]) for h in history] == [
        (2, "edited", {"required_amount": ["300.00", "250.00"]}, "cm-1", "court amended the order"),
        (3, "waived", {"waived": [False, True]}, "sup-1", "victim declined restitution")]
    general = add_condition(tenant, case_id, {"kind": "general", "description": "no new arrests"})
    amount_on_general = tenant.api.request("PATCH", f"/v1/cases/{case_id}/conditions/{general.json()['id']}",
                                         token=manager, headers={"If-Match": general.headers["ETag"]},
                                         json={"required_amount": "5", "reason": "?"})
    assert amount_on_general.status_code == 409
    # a waived condition does not block completion
    later = (date.today() + timedelta(days=200)).isoformat()
    tag = tenant.get_case(case_id).headers["ETag"]
    blocked = tenant.api.post(f"/v1/cases/{case_id}/transitions", token=manager, headers={"If-Match": tag},
                              json={"action": "complete", "on": later})
    assert blocked.status_code == 409
    assert [u["condition_id"] for u in blocked.json()["unmet_conditions"]] == [general.json()["id"]]
    rows = {(r["action"], r["resource_id"], r["outcome"]) for r in trail(tenant)}
    assert {("condition.edited", condition_id, "success"), ("condition.waived", condition_id, "success"),
            ("condition.waive", condition_id, "denied")} <= rows


def test_payments_hours_and_waivers_are_timeline_items(tenant, case_id, engine):
    owed = restitution(tenant, case_id, "80").json()["id"]
    assert pay(tenant, case_id, owed, "30", receipt_number="R-7").status_code == 201
    service = add_condition(tenant, case_id, {"kind": "make_whole", "description": "community service",
                                              "unit": "hours", "required_amount": "10"}).json()["id"]
    assert tenant.api.post(f"/v1/cases/{case_id}/conditions/{service}/hours", token=tenant.manager_token(), json={
        "served_on": date.today().isoformat(), "hours": "4", "site": "Food bank",
        "verified_by": "site lead"}).status_code == 201
    tag = condition(tenant, case_id, owed).headers["ETag"]
    assert tenant.api.request("PATCH", f"/v1/cases/{case_id}/conditions/{owed}", token=tenant.supervisor,
                            headers={"If-Match": tag},
                            json={"waive": True, "reason": "paid in kind"}).status_code == 200
    with Session(engine) as session:
        items = timeline_items(session, case_id)
        assert timeline_items(session, "no-such-case") == []
    assert [(i.kind, i.condition_id) for i in items] == [
        ("condition.payment", owed), ("condition.hours", service), ("condition.waived", owed)]
    assert items[0].summary.startswith("payment of $30.00 (money_order, receipt R-7)")
    assert "4.00 hours" in items[1].summary and "paid in kind" in items[2].summary
    assert all(i.occurred_at.tzinfo is not None for i in items)
    # The case timeline shows them, without their reasons or descriptions (read on the condition itself).
    timeline = tenant.api.get(f"/v1/cases/{case_id}/timeline", token=tenant.supervisor,
                              params={"limit": 200}).json()["items"]
    ledger = [(e["kind"], e["id"]) for e in timeline if e["kind"] in
              ("condition.payment", "condition.hours", "condition.waived")]
    assert ledger == [("condition.payment", owed), ("condition.hours", service), ("condition.waived", owed)]
    assert "paid in kind" not in str(timeline) and "Food bank" not in str(timeline)


def test_the_older_progress_endpoint_writes_the_ledger(tenant, case_id, engine):
    owed = restitution(tenant, case_id, "100")
    path = f"/v1/cases/{case_id}/conditions/{owed.json()['id']}"
    paid = tenant.api.post(f"{path}/progress", token=tenant.manager_token(), json={"amount": "40"},
                           headers={"If-Match": owed.headers["ETag"]})
    assert paid.status_code == 200 and paid.json()["completed_amount"] == "40.00"
    ledger = tenant.api.get(f"{path}/payments", token=tenant.supervisor).json()["items"]
    assert [(p["amount"], p["method"], p["receipt_number"]) for p in ledger] == [("40.00", "other", None)]
