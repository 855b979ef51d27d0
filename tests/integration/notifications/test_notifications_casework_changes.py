"""Appointments that move or are cancelled, late bookings, one staff directory, and every casework alert to the
case manager: through the real broker, the service's real SMTP channel and the suite's mail catcher."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from notifications_events import appointment, case_assigned, referral_requested, referral_status, uid
from notifications_support import manual_clock, publish, wait_for

from shared.mailcatcher import MailCatcher
from shared.messaging.catalog import (
    AppointmentCancelled,
    AppointmentRescheduled,
    CaseContactOverdue,
    CaseEndApproaching,
    CasePlanUpdated,
    ResourcesDisclosureRecorded,
    StaffRegistered,
    StaffUpdated,
)
from shared.messaging.envelope import new_event
from tests.conftest import free_port, make_token

CHICAGO = ZoneInfo("America/Chicago")
START = datetime(2031, 3, 4, 10, 0, tzinfo=CHICAGO)  # a Tuesday morning
THURSDAY = datetime(2031, 3, 6, 15, 0, tzinfo=CHICAGO)
FRIDAY = datetime(2031, 3, 7, 15, 0, tzinfo=CHICAGO)


@pytest.fixture
def catcher(tmp_path):
    with MailCatcher(tmp_path / "mail", port=free_port()) as mail:
        yield mail


def reminders(api, agency, appointment_id):
    response = api.get(f"/v1/appointments/{appointment_id}/reminders", token=make_token(agency, ("case_manager",)))
    return response.json() if response.status_code == 200 else []


def rescheduled(agency, booked, starts_at, version=2):
    data = AppointmentRescheduled(**{**booked.data.model_dump(), "starts_at": starts_at, "version": version,
                                     "previous_starts_at": booked.data.starts_at, "rescheduled_at": START})
    return new_event(data, subject=data.appointment_id, tenantid=agency)


def cancelled(agency, booked, version=2):
    data = AppointmentCancelled(appointment_id=booked.data.appointment_id, case_id=booked.data.case_id,
                                starts_at=booked.data.starts_at, reason="court date moved", cancelled_at=START,
                                version=version)
    return new_event(data, subject=data.appointment_id, tenantid=agency)


def staff_registered(agency, subject, email):
    data = StaffRegistered(staff_id=uid("staff"), agency_id=agency, role="case_manager", active=True,
                           display_name="Dana Case", email=email, subject=subject)
    return new_event(data, subject=data.staff_id, tenantid=agency)


def subjects(catcher):
    return [message["Subject"] for message in catcher.messages()]


def test_a_rescheduled_appointments_old_reminder_never_arrives_and_the_new_one_does(notifications, catcher, agency):
    api = notifications(DIVERSION_NOTIFICATIONS_SMTP_PORT=str(catcher.port),
                        DIVERSION_NOTIFICATIONS_REMINDER_OFFSETS="24h")
    clock = manual_clock(api, start=START)
    booked = appointment(agency, THURSDAY, email="ana@example.org", participant_first_name="Ana", version=1)
    publish(booked)
    appointment_id = booked.data.appointment_id
    wait_for(lambda: [r["status"] for r in reminders(api, agency, appointment_id)] == ["scheduled"],
             what="Thursday's reminder planned")
    publish(rescheduled(agency, booked, FRIDAY))
    wait_for(lambda: sorted((r["status"], r["appointment_at"][:10]) for r in reminders(api, agency, appointment_id))
             == [("cancelled", "2031-03-06"), ("scheduled", "2031-03-07")], what="the reminder moved to Friday")
    # Thursday 15:01: the old reminder (Wednesday 15:00) and the new one (Thursday 15:00) would both be due.
    clock.set(datetime(2031, 3, 6, 15, 1, tzinfo=CHICAGO))
    wait_for(lambda: catcher.messages(), what="the new reminder in the mail catcher")
    assert subjects(catcher) == ["Reminder: your appointment Friday, March 7 at 3:00 PM"]
    by_time = {r["appointment_at"][:10]: r for r in reminders(api, agency, appointment_id)}
    old = by_time["2031-03-06"]
    assert old["skip_reason"] == "appointment rescheduled" and old["delivery_id"] is None
    assert by_time["2031-03-07"]["status"] == "queued"


def test_a_cancelled_appointment_sends_nothing(notifications, catcher, agency):
    api = notifications(DIVERSION_NOTIFICATIONS_SMTP_PORT=str(catcher.port))
    clock = manual_clock(api, start=START)
    booked = appointment(agency, THURSDAY, email="ana@example.org", version=1)
    publish(booked)
    wait_for(lambda: len(reminders(api, agency, booked.data.appointment_id)) == 2, what="two reminders planned")
    publish(cancelled(agency, booked))
    wait_for(lambda: {r["status"] for r in reminders(api, agency, booked.data.appointment_id)} == {"cancelled"},
             what="both reminders cancelled")
    # A later, scheduled appointment of someone else is the witness: once its reminder arrives, the cancelled
    # appointment's reminders (due earlier) would have arrived too.
    witness = appointment(agency, FRIDAY, email="bo@example.org", version=1)
    publish(witness)
    wait_for(lambda: len(reminders(api, agency, witness.data.appointment_id)) == 2, what="the witness planned")
    clock.set(datetime(2031, 3, 7, 13, 1, tzinfo=CHICAGO))
    wait_for(lambda: len(catcher.messages()) == 2, what="the witness's two reminders")
    assert {m["X-Envelope-To"] for m in catcher.messages()} == {"bo@example.org"}


def test_an_appointment_booked_90_minutes_ahead_gets_one_reminder(notifications, catcher, agency):
    api = notifications(DIVERSION_NOTIFICATIONS_SMTP_PORT=str(catcher.port))
    clock = manual_clock(api, start=START)
    booked = appointment(agency, START + timedelta(minutes=90), email="ana@example.org", version=1)
    publish(booked)
    wait_for(lambda: catcher.messages(), what="the reminder")
    assert subjects(catcher) == ["Reminder: your appointment Tuesday, March 4 at 11:30 AM"]
    clock.set(START + timedelta(minutes=100))
    [row] = reminders(api, agency, booked.data.appointment_id)
    assert row["status"] == "queued" and row["offset_minutes"] == 24 * 60
    assert datetime.fromisoformat(row["send_at"]) == START


def test_an_overdue_alert_raised_before_the_contact_existed_is_sent_once_it_does(notifications, catcher, agency):
    api = notifications(DIVERSION_NOTIFICATIONS_SMTP_PORT=str(catcher.port))
    case_id = uid("case")
    publish(case_assigned(agency, case_id, "cm-7"))
    overdue = CaseContactOverdue(case_id=case_id, case_manager="cm-7", due_at=datetime.now(UTC) - timedelta(days=1))
    publish(new_event(overdue, subject=case_id, tenantid=agency))
    admin = make_token(agency, ("admin",))
    # Someone else's contact arriving first releases nothing for cm-7.
    publish(staff_registered(agency, "cm-8", "lee@example.org"))
    wait_for(lambda: any(c["staff_id"] == "cm-8" for c in api.get("/v1/staff-contacts", token=admin).json()),
             what="cm-8's contact from the staff event")
    assert not [m for m in catcher.messages() if case_id in m["Subject"]]
    publish(staff_registered(agency, "cm-7", "dana@example.org"))

    def this_case() -> list:  # the catcher's port may have served another test's service before: its case only
        return [m for m in catcher.messages() if case_id in m["Subject"]]

    wait_for(lambda: len(this_case()) == 2, what="the assignment and the overdue notice")
    assert sorted(m["Subject"] for m in this_case()) == [f"New case assigned: {case_id}",
                                                         f"No contact for case {case_id}"]
    assert {m["X-Envelope-To"] for m in this_case()} == {"dana@example.org"}
    overdue_mail = next(m for m in this_case() if m["Subject"].startswith("No contact"))
    assert "http" not in overdue_mail.get_body(("plain",)).get_content()  # no staff app configured: no link
    contacts = api.get("/v1/staff-contacts", token=admin).json()
    assert [(c["email"], c["name"]) for c in contacts if c["staff_id"] == "cm-7"] == [("dana@example.org", "Dana Case")]


def test_case_manager_hears_of_end_approaching_plan_changes_and_an_undelivered_referral(
    notifications, catcher, make_receiver, agency
):
    api = notifications(DIVERSION_NOTIFICATIONS_SMTP_PORT=str(catcher.port),
                        DIVERSION_NOTIFICATIONS_STAFF_APP_URLS=f"{agency}=https://cases.{agency}.example")
    admin = make_token(agency, ("admin",))
    assert api.request("PUT", "/v1/staff-contacts/cm-1", token=admin,
                       json={"email": "dana@example.org"}).status_code == 201
    case_id = uid("case")
    publish(case_assigned(agency, case_id, "cm-1"))
    wait_for(lambda: len(catcher.messages()) == 1, what="the assignment")
    publish(new_event(CaseEndApproaching(case_id=case_id, expected_end=date(2031, 4, 1), days_left=12),
                      subject=case_id, tenantid=agency))
    publish(new_event(CasePlanUpdated(case_id=case_id, plan_version=3, goals_total=4, goals_completed=1,
                                      updated_at=datetime.now(UTC), change="goal_added"),
                      subject=case_id, tenantid=agency))
    partner = make_receiver()
    partner.reply = lambda request: (400, {}, b"no such endpoint")
    assert api.post("/v1/subscriptions", token=make_token(agency, ("partner",), org="org-h"),
                    json={"url": partner.url}).status_code == 201
    publish(referral_status(agency, "org-h", status="accepted", case_id=case_id))
    wait_for(lambda: len(catcher.messages()) == 4, what="end approaching, plan updated, referral not delivered")
    mails = {m["Subject"]: m for m in catcher.messages()}
    ending = mails[f"Case {case_id} ends in 12 days"].get_body(("plain",)).get_content()
    assert f"https://cases.{agency}.example/cases/{case_id}" in ending
    assert "version 3 (goal_added): 1 of 4" in mails[f"Support plan updated for case {case_id}"].get_body(
        ("plain",)).get_content()
    failed = mails["Referral not delivered to org-h"].get_body(("plain",)).get_content()
    assert f"for case {case_id}" in failed and "answered 400" in failed
    assert {m["X-Envelope-To"] for m in catcher.messages()} == {"dana@example.org"}
    assert partner.requests and all(case_id not in r.body.decode() for r in partner.requests)


def referral_disclosed(agency, requested, case_id):
    """resources' staff-side record of the referral (published with service_referral.requested)."""
    data = ResourcesDisclosureRecorded(participant_id=uid("p"), case_id=case_id,
                                       service_referral_id=requested.data.service_referral_id,
                                       recipient_org_id=requested.data.organization_id, channel="service_referral",
                                       outcome="disclosed", occurred_at=datetime.now(UTC))
    return new_event(data, subject=data.participant_id, tenantid=agency)


def test_a_referral_request_that_never_reached_the_partner_is_reported_to_the_case_manager(
    notifications, catcher, make_receiver, agency
):
    api = notifications(DIVERSION_NOTIFICATIONS_SMTP_PORT=str(catcher.port),
                        DIVERSION_NOTIFICATIONS_STAFF_APP_URLS=f"{agency}=https://cases.{agency}.example")
    admin = make_token(agency, ("admin",))
    for staff_id, body in (("cm-7", {"email": "dana@example.org"}),
                           ("ops-1", {"email": "ops@example.org", "topics": ["delivery_failed"]})):
        assert api.request("PUT", f"/v1/staff-contacts/{staff_id}", token=admin, json=body).status_code == 201
    case_id = uid("case")
    publish(case_assigned(agency, case_id, "cm-7"))
    wait_for(lambda: len(catcher.messages()) == 1, what="the assignment")
    partner = make_receiver()
    partner.reply = lambda request: (400, {}, b"no such endpoint")
    assert api.post("/v1/subscriptions", token=make_token(agency, ("partner",), org="org-f"),
                    json={"url": partner.url}).status_code == 201

    def mails_to(address):
        return [m for m in catcher.messages() if m["X-Envelope-To"] == address
                and m["Subject"] == "Referral not delivered to org-f"]

    # the case is known when the delivery fails (resources' disclosure.recorded travels with the request)
    first = referral_requested(agency, "org-f")
    publish(referral_disclosed(agency, first, case_id))
    publish(first)
    wait_for(lambda: len(mails_to("dana@example.org")) == 1, what="the case manager told")
    text = mails_to("dana@example.org")[0].get_body(("plain",)).get_content()
    assert f"{first.data.service_referral_id} for case {case_id} did not reach org-f" in text
    assert "answered 400" in text
    assert f"https://cases.{agency}.example/service-referrals/{first.data.service_referral_id}" in text

    # the failure is handled before the case is learnt: the topic's staff hear at once, the manager once it is
    second = referral_requested(agency, "org-f")
    publish(second)
    wait_for(lambda: len(mails_to("ops@example.org")) == 2, what="the topic's staff told of the second")
    assert len(mails_to("dana@example.org")) == 1
    publish(referral_disclosed(agency, second, case_id))
    wait_for(lambda: len(mails_to("dana@example.org")) == 2, what="the case manager told once the case is known")
    late = mails_to("dana@example.org")[1].get_body(("plain",)).get_content()
    assert f"{second.data.service_referral_id} for case {case_id}" in late and "answered 400" in late

    bodies = [json.loads(r.body) for r in partner.requests]
    assert {b["data"]["service_referral_id"] for b in bodies} == {first.data.service_referral_id,
                                                                   second.data.service_referral_id}
    assert all("case_id" not in body["data"] for body in bodies)
    assert all(case_id not in request.body.decode() for request in partner.requests)


def test_staff_updated_changes_the_contact_and_keeps_the_topics_chosen_here(notifications, agency):
    api = notifications()
    admin = make_token(agency, ("admin",))
    registered = staff_registered(agency, "sup-4", "sam@example.org")
    publish(registered)

    def contact():
        return next((c for c in api.get("/v1/staff-contacts", token=admin).json() if c["staff_id"] == "sup-4"), None)

    first = wait_for(contact, what="the contact from staff.registered")
    blind = api.request("PUT", "/v1/staff-contacts/sup-4", token=admin, json={"email": "sam@example.org"})
    assert blind.status_code == 428, blind.text  # it exists now (learnt, not created here): If-Match, not a 500
    saved = api.request("PUT", "/v1/staff-contacts/sup-4", token=admin,
                        headers={"If-Match": f'"sup-4.{first["version"]}"'},
                        json={"email": "sam@example.org", "topics": ["escalation"]})
    assert saved.status_code == 200, saved.text
    update = StaffUpdated(**{**registered.data.model_dump(), "email": "sam.new@example.org", "active": False})
    publish(new_event(update, subject=update.staff_id, tenantid=agency))
    wait_for(lambda: (c := contact()) and c["email"] == "sam.new@example.org", what="the contact updated")
    assert (contact()["active"], contact()["topics"]) == (False, ["escalation"])
