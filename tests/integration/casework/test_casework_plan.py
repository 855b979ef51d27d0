"""Assessment, the versioned support plan, goals moved by `service_referral.status_changed` from resources
(old and FHIR status values), conditions with progress, check-ins, appointments and graduated incidents."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from shared.messaging.catalog import ServiceReferralStatusChanged
from shared.messaging.envelope import new_event
from tests.integration.casework.conftest import outbox_events, wait_for


@pytest.fixture
def case_id(tenant):
    tenant.add_staff("cm-1")
    return tenant.open_case()


def change_plan(tenant, case_id, body, token=None):
    current = tenant.api.get(f"/v1/cases/{case_id}/plan", token=tenant.supervisor)
    response = tenant.api.post(f"/v1/cases/{case_id}/plan/changes", token=token or tenant.manager_token(),
                               json=body, headers={"If-Match": current.headers["ETag"]})
    assert response.status_code == 200, response.text
    return response.json()


def test_assessment_versions_and_priorities(tenant, case_id):
    token = tenant.manager_token()
    first = tenant.api.post(f"/v1/cases/{case_id}/assessments", token=token, json={"domains": [
        {"domain": "housing", "level": "high"}, {"domain": "employment", "level": "moderate"},
        {"domain": "legal", "level": "low"}]})
    assert first.status_code == 201, first.text
    assert first.json()["priorities"] == ["housing", "employment"]
    again = tenant.api.post(f"/v1/cases/{case_id}/assessments", token=token,
                            json={"domains": [{"domain": "housing", "level": "low"}]},
                            headers={"Idempotency-Key": "assess-2"})
    replayed = tenant.api.post(f"/v1/cases/{case_id}/assessments", token=token,
                               json={"domains": [{"domain": "housing", "level": "low"}]},
                               headers={"Idempotency-Key": "assess-2"})
    assert replayed.json() == again.json() and replayed.headers["Idempotent-Replayed"] == "true"
    listed = tenant.api.get(f"/v1/cases/{case_id}/assessments", token=token).json()
    assert [a["version"] for a in listed] == [2, 1]
    twice = tenant.api.post(f"/v1/cases/{case_id}/assessments", token=token, json={"domains": [
        {"domain": "housing", "level": "high"}, {"domain": "housing", "level": "low"}]})
    assert twice.status_code == 422


def test_plan_changes_are_versioned_and_published(tenant, case_id, engine):
    plan = change_plan(tenant, case_id, {"op": "add_goal", "domain": "employment", "description": "a steady job",
                                         "reason": "asked for by the participant before any assessment"})
    goal = plan["goals"][0]["id"]
    plan = change_plan(tenant, case_id, {"op": "add_task", "goal_id": goal, "description": "resume workshop"})
    task = plan["goals"][0]["tasks"][0]["id"]
    plan = change_plan(tenant, case_id, {"op": "complete_task", "goal_id": goal, "task_id": task})
    assert plan["version"] == 4 and plan["goals"][0]["status"] == "in_progress"
    first = tenant.api.get(f"/v1/cases/{case_id}/plan/versions/2", token=tenant.supervisor).json()
    assert first["goals"][0]["tasks"] == []
    updates = outbox_events(engine, tenant.slug, "case.plan_updated")
    assert [(e["data"]["plan_version"], e["data"]["change"]) for e in updates] == [
        (2, "goal_added"), (3, "task_added"), (4, "task_done")]
    missing_goal = tenant.api.post(f"/v1/cases/{case_id}/plan/changes", token=tenant.manager_token(),
                                   json={"op": "set_goal_status", "goal_id": "nope", "status": "achieved"},
                                   headers={"If-Match": f'"plan-{case_id}.4"'})
    assert missing_goal.status_code == 404
    no_etag = tenant.api.post(f"/v1/cases/{case_id}/plan/changes", token=tenant.manager_token(),
                              json={"op": "set_goal_status", "goal_id": goal, "status": "achieved"})
    assert no_etag.status_code == 428


@pytest.mark.parametrize(("statuses", "goal_status", "attention"), [
    (["accepted"], "in_progress", False),
    (["received", "in-progress", "completed"], "achieved", False),
    (["rejected"], "not_started", True),
    (["cancelled"], "not_started", True),
])
def test_service_referral_status_moves_the_linked_goal(tenant, case_id, intake, statuses, goal_status, attention):
    plan = change_plan(tenant, case_id, {"op": "add_goal", "domain": "housing", "description": "a lease",
                                         "reason": "urgent before the assessment"})
    goal = plan["goals"][0]["id"]
    referral = f"sr-{uuid.uuid4().hex[:8]}"
    version = change_plan(tenant, case_id, {"op": "link_service_referral", "goal_id": goal,
                                            "service_referral_id": referral})["version"]
    events = []
    for status in statuses:
        data = ServiceReferralStatusChanged(service_referral_id=referral, organization_id="org-1", status=status,
                                            changed_at=datetime.now(UTC), changed_by="partner-1", case_id=case_id)
        events.append(new_event(data, subject=referral, tenantid=tenant.slug))
    intake.publish(*events, service="resources")
    intake.publish_again(events[-1])  # a redelivery changes nothing

    def moved():
        current = tenant.api.get(f"/v1/cases/{case_id}/plan", token=tenant.supervisor).json()
        return current if (current["goals"][0]["status"], current["goals"][0]["needs_attention"]) == (
            goal_status, attention) else None

    current = wait_for(moved, what=f"the goal to become {goal_status}")
    assert current["updated_by"] == "resources"
    # deliveries may be handled concurrently and out of order; the goal's end state is the same either way
    assert current["version"] > version


def test_conditions_track_make_whole_progress_with_etags(tenant, case_id):
    token = tenant.manager_token()
    created = tenant.api.post(f"/v1/cases/{case_id}/conditions", token=token, json={
        "kind": "make_whole", "description": "restitution", "unit": "dollars", "required_amount": "300.00"})
    assert created.status_code == 201, created.text
    path = f"/v1/cases/{case_id}/conditions/{created.json()['id']}"
    paid = tenant.api.post(f"{path}/progress", token=token, json={"amount": "100"},
                           headers={"If-Match": created.headers["ETag"]})
    assert paid.status_code == 200 and paid.json()["percent_complete"] == "33"
    stale = tenant.api.post(f"{path}/progress", token=token, json={"amount": "100"},
                            headers={"If-Match": created.headers["ETag"]})
    assert stale.status_code == 412
    done = tenant.api.post(f"{path}/progress", token=token, json={"amount": "250"},
                           headers={"If-Match": paid.headers["ETag"]})
    assert done.json()["met"] is True and float(done.json()["remaining"]) == 0
    general = tenant.api.post(f"/v1/cases/{case_id}/conditions", token=token,
                              json={"kind": "general", "description": "no new arrests"})
    wrong = tenant.api.post(f"/v1/cases/{case_id}/conditions/{general.json()['id']}/progress", token=token,
                            json={"amount": "1"}, headers={"If-Match": general.headers["ETag"]})
    assert wrong.status_code == 409
    bad = tenant.api.post(f"/v1/cases/{case_id}/conditions", token=token,
                          json={"kind": "make_whole", "description": "hours"})
    assert bad.status_code == 422


def test_check_ins_and_graduated_incidents(tenant, case_id):
    token = tenant.manager_token()
    when = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    contact = tenant.api.post(f"/v1/cases/{case_id}/contacts", token=token, json={"scheduled_for": when})
    assert contact.status_code == 201 and contact.json()["status"] == "scheduled"
    missed = tenant.api.post(f"/v1/cases/{case_id}/contacts/{contact.json()['id']}/outcome", token=token,
                             json={"status": "missed"}, headers={"If-Match": contact.headers["ETag"]})
    assert missed.status_code == 200 and missed.json()["status"] == "missed"
    again = tenant.api.post(f"/v1/cases/{case_id}/contacts/{contact.json()['id']}/outcome", token=token,
                            json={"status": "completed"}, headers={"If-Match": missed.headers["ETag"]})
    assert again.status_code == 409
    assert again.json()["type"].endswith("/contact-settled") and again.json()["title"] == "Conflict"
    assert again.json()["detail"] == "the contact is already missed"
    responses = []
    for kind in ("missed_checkin", "non_compliance", "new_arrest"):
        incident = tenant.api.post(f"/v1/cases/{case_id}/incidents", token=token, json={
            "kind": kind, "occurred_on": datetime.now(UTC).date().isoformat(), "description": "noted"})
        assert incident.status_code == 201, incident.text
        responses.append(incident.json()["response"])
    assert responses == ["warning", "increased_contact", "supervisor_review"]


def test_an_appointment_publishes_what_notifications_needs_for_the_reminder(tenant, case_id, engine):
    starts = datetime(2031, 3, 4, 9, 30, tzinfo=UTC) + timedelta(hours=-6)
    response = tenant.api.post(f"/v1/cases/{case_id}/appointments", token=tenant.manager_token(), json={
        "starts_at": starts.astimezone(__import__("zoneinfo").ZoneInfo("America/Chicago")).isoformat(),
        "with_whom": "Housing Partner", "location": "1520 Market St"})
    assert response.status_code == 201, response.text
    event = outbox_events(engine, tenant.slug, "appointment.scheduled")[-1]
    data = event["data"]
    assert data["starts_at"] in ("2031-03-04T03:30:00Z", "2031-03-04T03:30:00+00:00")
    assert (data["participant_first_name"], data["phone"], data["email"], data["preferred_language"]) == (
        "Jordan", "+13145550100", "jordan@example.org", "es")
    assert data["case_id"] == case_id and data["appointment_id"] == response.json()["id"]


def test_an_appointment_that_ends_before_it_starts_is_refused(tenant, case_id):
    starts = datetime(2031, 3, 4, 15, 30, tzinfo=UTC)
    response = tenant.api.post(f"/v1/cases/{case_id}/appointments", token=tenant.manager_token(), json={
        "starts_at": starts.isoformat(), "ends_at": starts.isoformat(), "with_whom": "Housing Partner"})
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["detail"] == "an appointment ends after it starts"
    assert problem["errors"] == [{"field": "ends_at", "message": "must be after starts_at", "type": "value_error"}]


def test_nothing_new_is_recorded_on_a_closed_case(tenant, case_id):
    case = tenant.api.get(f"/v1/cases/{case_id}", token=tenant.supervisor)
    closed = tenant.api.post(f"/v1/cases/{case_id}/transitions", token=tenant.supervisor,
                             json={"action": "withdraw", "reason": "opened in error"},
                             headers={"If-Match": case.headers["ETag"]})
    assert closed.status_code == 200, closed.text
    now = datetime.now(UTC).isoformat()
    for path, body in (("contacts", {"scheduled_for": now}),
                       ("appointments", {"starts_at": now, "with_whom": "Housing Partner"}),
                       ("incidents", {"kind": "non_compliance", "occurred_on": now[:10], "description": "noted"})):
        refused = tenant.api.post(f"/v1/cases/{case_id}/{path}", token=tenant.supervisor, json=body)
        assert refused.status_code == 409, refused.text
        assert refused.json()["type"].endswith("/case-closed") and refused.json()["title"] == "Conflict"
        assert refused.json()["detail"] == "the case is withdrawn"
    plan = tenant.api.get(f"/v1/cases/{case_id}/plan", token=tenant.supervisor)
    change = tenant.api.post(f"/v1/cases/{case_id}/plan/changes", token=tenant.supervisor,
                             json={"op": "add_goal", "domain": "legal", "description": "expungement"},
                             headers={"If-Match": plan.headers["ETag"]})
    assert change.status_code == 409 and change.json()["detail"] == "the case is withdrawn; its plan is closed"
