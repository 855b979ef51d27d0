"""Appointments as staff use them: kinds as data (a court hearing needs its court fields), reschedule and
cancel with If-Match, each audited and announced; staff announced with their contact fields."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.casework.models import AuditEvent
from tests.integration.casework.conftest import outbox_events

STARTS = datetime(2031, 3, 6, 21, 0, tzinfo=UTC)


@pytest.fixture
def case_id(tenant):
    tenant.add_staff("cm-1")
    return tenant.open_case()


def book(tenant, case_id, **body):
    return tenant.api.post(f"/v1/cases/{case_id}/appointments", token=tenant.manager_token(), json={
        "starts_at": STARTS.isoformat(), "with_whom": "Judge Ruiz", **body})


def test_a_court_hearing_without_a_docket_number_is_refused(tenant, case_id):
    response = book(tenant, case_id, kind="court_hearing", court="22nd Judicial Circuit", division="Division 16")
    assert response.status_code == 422, response.text
    problem = response.json()
    assert [e["field"] for e in problem["errors"]] == ["docket_number"]
    assert problem["detail"] == "a court hearing needs docket_number"
    assert outbox_events(tenant.engine, tenant.slug, "appointment.scheduled") == []


def test_kinds_are_data_and_court_fields_belong_to_hearings_only(tenant, case_id):
    unknown = book(tenant, case_id, kind="karaoke")
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "kind", unknown.text
    foreign = book(tenant, case_id, kind="drug_test", docket_number="2231-CR01234")
    assert foreign.status_code == 422 and [e["field"] for e in foreign.json()["errors"]] == ["docket_number"]
    legacy = book(tenant, case_id, kind="check-in")  # the free-text spelling of before
    assert legacy.status_code == 201 and legacy.json()["kind"] == "check_in", legacy.text
    hearing = book(tenant, case_id, kind="court_hearing", court="22nd Judicial Circuit", division="Division 16",
                   docket_number="2231-CR01234")
    assert hearing.status_code == 201, hearing.text
    body = hearing.json()
    assert (body["kind"], body["court"], body["division"], body["docket_number"]) == (
        "court_hearing", "22nd Judicial Circuit", "Division 16", "2231-CR01234")
    listed = tenant.api.get(f"/v1/cases/{case_id}/appointments", token=tenant.supervisor).json()
    assert [a["docket_number"] for a in listed if a["kind"] == "court_hearing"] == ["2231-CR01234"]


def test_reschedule_and_cancel_need_if_match_are_audited_and_announced(tenant, case_id):
    booked = book(tenant, case_id, kind="check_in", ends_at=(STARTS + timedelta(hours=1)).isoformat())
    assert booked.status_code == 201, booked.text
    path = f"/v1/cases/{case_id}/appointments/{booked.json()['id']}"
    token = tenant.manager_token()
    later = STARTS + timedelta(days=2)
    move = {"action": "reschedule", "starts_at": later.isoformat()}
    assert tenant.api.request("PATCH", path, token=token, json=move).status_code == 428
    stale = tenant.api.request("PATCH", path, token=token, json=move,
                               headers={"If-Match": booked.headers["ETag"] + "x"})
    assert stale.status_code == 412
    moved = tenant.api.request("PATCH", path, token=token, headers={"If-Match": booked.headers["ETag"]},
                               json={"action": "reschedule", "starts_at": later.isoformat(),
                                     "reason": "participant works that day"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["ends_at"].startswith((later + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))
    again = tenant.api.request("PATCH", path, token=token, headers={"If-Match": booked.headers["ETag"]},
                               json={"action": "reschedule", "starts_at": later.isoformat()})
    assert again.status_code == 412
    [rescheduled] = outbox_events(tenant.engine, tenant.slug, "appointment.rescheduled")
    data = rescheduled["data"]
    assert data["version"] == 2 and data["reason"] == "participant works that day"
    assert datetime.fromisoformat(data["previous_starts_at"]) == STARTS
    assert datetime.fromisoformat(data["starts_at"]) == later and data["email"] == "jordan@example.org"

    no_reason = tenant.api.request("PATCH", path, token=token, headers={"If-Match": moved.headers["ETag"]},
                                   json={"action": "cancel"})
    assert no_reason.status_code == 422
    cancelled = tenant.api.request("PATCH", path, token=token, headers={"If-Match": moved.headers["ETag"]},
                                   json={"action": "cancel", "reason": "court date moved the check-in"})
    assert cancelled.status_code == 200, cancelled.text
    assert (cancelled.json()["status"], cancelled.json()["cancel_reason"]) == (
        "cancelled", "court date moved the check-in")
    [event] = outbox_events(tenant.engine, tenant.slug, "appointment.cancelled")
    assert event["data"]["version"] == 3 and event["data"]["reason"] == "court date moved the check-in"
    gone = tenant.api.request("PATCH", path, token=token, headers={"If-Match": cancelled.headers["ETag"]},
                              json={"action": "reschedule", "starts_at": later.isoformat()})
    assert gone.status_code == 409 and gone.json()["type"].endswith("appointment-not-changeable"), gone.text

    with Session(tenant.engine) as session:
        audited = session.execute(select(AuditEvent.c.action, AuditEvent.c.actor, AuditEvent.c.detail).where(
            AuditEvent.c.agency_id == tenant.slug, AuditEvent.c.resource_id == booked.json()["id"],
            AuditEvent.c.action.in_(["appointment.rescheduled", "appointment.cancelled"]))).all()
    assert sorted((a.action, a.actor, a.detail["reason"]) for a in audited) == [
        ("appointment.cancelled", "cm-1", "court date moved the check-in"),
        ("appointment.rescheduled", "cm-1", "participant works that day")]


def test_another_case_managers_appointment_cannot_be_moved(tenant, case_id):
    booked = book(tenant, case_id)
    path = f"/v1/cases/{case_id}/appointments/{booked.json()['id']}"
    move = {"action": "reschedule", "starts_at": STARTS.isoformat(), "location": "elsewhere"}
    other = tenant.api.request("PATCH", path, token=tenant.manager_token("cm-2"),
                               headers={"If-Match": booked.headers["ETag"]}, json=move)
    assert other.status_code == 403
    assert tenant.api.get(path, token=tenant.auditor).status_code == 200


def test_new_staff_are_announced_with_their_contact_fields(tenant):
    staff_id = tenant.add_staff("cm-9", role="supervisor")
    [event] = outbox_events(tenant.engine, tenant.slug, "staff.registered")
    assert event["data"] == {"staff_id": staff_id, "agency_id": tenant.slug, "role": "supervisor", "active": True,
                             "display_name": "Staff cm-9", "email": f"cm-9@{tenant.slug}.example.org",
                             "phone": None, "subject": "cm-9"}


@pytest.mark.parametrize("closing", [
    {"action": "terminate", "reason": "non_compliance", "detail": "moved away"},
    {"action": "withdraw", "reason": "opened in error"},
])
def test_closing_the_case_cancels_what_is_still_scheduled_and_announces_each(tenant, case_id, closing):
    first = book(tenant, case_id, kind="check_in")
    second = book(tenant, case_id, kind="drug_test", starts_at=(STARTS + timedelta(days=7)).isoformat())
    gone = book(tenant, case_id, kind="check_in", starts_at=(STARTS + timedelta(days=1)).isoformat())
    assert {first.status_code, second.status_code, gone.status_code} == {201}
    path = f"/v1/cases/{case_id}/appointments/{gone.json()['id']}"
    cancelled = tenant.api.request("PATCH", path, token=tenant.manager_token(),
                                   headers={"If-Match": gone.headers["ETag"]},
                                   json={"action": "cancel", "reason": "participant asked"})
    assert cancelled.status_code == 200, cancelled.text
    closed = tenant.transition(case_id, closing)
    assert closed.status_code == 200, closed.text
    listed = {a["id"]: a for a in tenant.api.get(f"/v1/cases/{case_id}/appointments", token=tenant.supervisor).json()}
    assert {listed[r.json()["id"]]["status"] for r in (first, second, gone)} == {"cancelled"}
    announced = outbox_events(tenant.engine, tenant.slug, "appointment.cancelled")
    by_id = {event["data"]["appointment_id"]: event["data"] for event in announced}
    assert len(announced) == 3  # the staff member's own cancellation, then one for each still scheduled
    state = closed.json()["state"]
    assert {by_id[r.json()["id"]]["reason"] for r in (first, second)} == {f"case {state}"}
    assert by_id[gone.json()["id"]]["reason"] == "participant asked"
