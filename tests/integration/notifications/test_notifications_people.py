"""Staff email and participant reminders: real SMTP (aiosmtpd), a real SMS provider endpoint, STOP / START."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta
from email import message_from_bytes
from email.policy import default as default_policy
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

import pytest
from notifications_events import appointment, case_assigned, checkin_overdue, referral_escalated, referral_status
from notifications_support import manual_clock, publish, wait_for

from services.notifications.inbound import twilio_signature
from tests.conftest import make_token

CHICAGO = ZoneInfo("America/Chicago")
# A Tuesday morning; the appointment is on Thursday at 15:00 (reminders Wednesday 15:00 and Thursday 13:00).
START = datetime(2031, 3, 4, 10, 0, tzinfo=CHICAGO)
APPOINTMENT = datetime(2031, 3, 6, 15, 0, tzinfo=CHICAGO)
INBOUND_SECRET = "inbound-secret-for-tests"


def sms_env(receiver) -> dict[str, str]:
    return {
        "DIVERSION_NOTIFICATIONS_SMS_ACCOUNT_SID": "AC0123456789",
        "DIVERSION_NOTIFICATIONS_SMS_AUTH_TOKEN": "twilio-token",
        "DIVERSION_NOTIFICATIONS_SMS_FROM": "+13145550199",
        "DIVERSION_NOTIFICATIONS_SMS_BASE_URL": receiver.url,
        "DIVERSION_NOTIFICATIONS_SMS_INBOUND_SECRET": INBOUND_SECRET,
        "DIVERSION_NOTIFICATIONS_SMS_INBOUND_URL": "https://notify.example.org/v1/sms/inbound",
    }


def mails(sink) -> list:
    return [message_from_bytes(envelope.content, policy=default_policy) for envelope in sink.envelopes]


def reminders(api, agency: str, appointment_id: str) -> list[dict]:
    response = api.get(f"/v1/appointments/{appointment_id}/reminders", token=make_token(agency, ("case_manager",)))
    assert response.status_code == 200, response.text
    return response.json()


def planned(api, agency: str, appointment_id: str) -> list[dict]:
    """Wait until the appointment's event was consumed and its reminders planned."""
    token = make_token(agency, ("case_manager",))
    response = wait_for(lambda: (r := api.get(f"/v1/appointments/{appointment_id}/reminders", token=token))
                        .status_code == 200 and r, what="the reminders to be planned")
    return response.json()


def test_staff_get_email_for_assignment_overdue_checkin_decline_and_escalation(notifications, smtp_server, agency):
    port, sink = smtp_server
    api = notifications(DIVERSION_NOTIFICATIONS_SMTP_PORT=str(port),
                        DIVERSION_NOTIFICATIONS_STAFF_APP_URL="https://staff.example.org")
    admin = make_token(agency, ("admin",))
    assert api.request("PUT", "/v1/staff-contacts/cm-1", token=admin,
                       json={"email": "dana@example.org", "name": "Dana"}).status_code == 201
    assert api.request("PUT", "/v1/staff-contacts/sup-1", token=admin,
                       json={"email": "sam@example.org",
                             "topics": ["service_referral_rejected", "escalation"]}).status_code == 201

    publish(case_assigned(agency, "case-17", "cm-1"))
    wait_for(lambda: len(sink.envelopes) == 1, what="the assignment email")
    [assigned] = mails(sink)
    assert assigned["To"] == "dana@example.org" and assigned["Subject"] == "New case assigned: case-17"
    assert "https://staff.example.org/cases/case-17" in assigned.get_body(("plain",)).get_content()
    assert assigned.get_body(("html",)) is not None

    publish(checkin_overdue(agency, "case-17", days=2))
    publish(referral_status(agency, "org-h", status="accepted"))  # not a rejection: no staff email
    publish(referral_status(agency, "org-h", status="rejected", note="no beds this month", case_id="case-17"))
    publish(referral_escalated(agency, "org-h"))
    wait_for(lambda: len(sink.envelopes) == 5, what="four more emails")
    by_subject = {mail["Subject"]: mail for mail in mails(sink)}
    overdue = by_subject["Check-in overdue for case case-17"]
    assert overdue["To"] == "dana@example.org"
    assert "2 days overdue" in overdue.get_body(("plain",)).get_content()
    declined = [mail for mail in mails(sink) if mail["Subject"] == "Service referral declined for case case-17"]
    # The supervisor (topic) and the case manager (the event names the case) are both told.
    assert sorted(mail["To"] for mail in declined) == ["dana@example.org", "sam@example.org"]
    assert "no beds this month" in declined[0].get_body(("plain",)).get_content()
    escalated = next(mail for subject, mail in by_subject.items() if subject.startswith("No answer from org-h"))
    assert escalated["To"] == "sam@example.org" and "3 days" in escalated.get_body(("plain",)).get_content()


def test_participant_gets_spanish_sms_reminders_24h_and_2h_before_in_the_providers_format(
    notifications, make_receiver, agency
):
    provider = make_receiver()
    provider.reply = lambda request: (201, {"Content-Type": "application/json"}, b'{"sid": "SM1"}')
    api = notifications(**sms_env(provider))
    clock = manual_clock(api, start=START)
    event = appointment(agency, APPOINTMENT, phone="(314) 555-0142", preferred_language="es",
                        participant_first_name="Lucía", location="1114 Market St")
    publish(event)
    planned_rows = planned(api, agency, event.data.appointment_id)
    assert [datetime.fromisoformat(r["send_at"]).astimezone(CHICAGO).strftime("%a %H:%M") for r in planned_rows] == [
        "Wed 15:00", "Thu 13:00"]

    clock.set(datetime(2031, 3, 5, 15, 1, tzinfo=CHICAGO))
    wait_for(lambda: len(provider.requests) == 1, what="the 24 h reminder")
    [request] = provider.requests
    assert request.path == "/2010-04-01/Accounts/AC0123456789/Messages.json"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.headers["authorization"] == "Basic " + base64.b64encode(b"AC0123456789:twilio-token").decode()
    form = {key: values[0] for key, values in parse_qs(request.body.decode()).items()}
    assert form["To"] == "+13145550142" and form["From"] == "+13145550199"
    assert "Lucía" in form["Body"] and "jueves 6 de marzo a las 15:00" in form["Body"]
    assert "1114 Market St" in form["Body"]

    clock.set(datetime(2031, 3, 6, 13, 1, tzinfo=CHICAGO))
    wait_for(lambda: len(provider.requests) == 2, what="the 2 h reminder")
    assert [r["status"] for r in reminders(api, agency, event.data.appointment_id)] == ["queued", "queued"]


def test_participant_without_phone_gets_the_reminder_by_email(notifications, smtp_server, agency):
    port, sink = smtp_server
    api = notifications(DIVERSION_NOTIFICATIONS_SMTP_PORT=str(port),
                        DIVERSION_NOTIFICATIONS_REMINDER_OFFSETS="24h")
    clock = manual_clock(api, start=START)
    event = appointment(agency, APPOINTMENT, email="ana@example.org", participant_first_name="Ana")
    publish(event)
    planned(api, agency, event.data.appointment_id)
    clock.set(datetime(2031, 3, 5, 15, 1, tzinfo=CHICAGO))
    wait_for(lambda: sink.envelopes, what="the reminder email")
    [mail] = mails(sink)
    assert mail["To"] == "ana@example.org"
    assert mail["Subject"] == "Reminder: your appointment Thursday, March 6 at 3:00 PM"
    assert "Hi Ana," in mail.get_body(("plain",)).get_content()


def test_opted_out_participant_gets_nothing_and_start_opts_back_in(notifications, make_receiver, agency):
    provider = make_receiver()
    provider.reply = lambda request: (201, {}, b"{}")
    api = notifications(**sms_env(provider))
    clock = manual_clock(api, start=START)
    first = appointment(agency, APPOINTMENT, phone="+1 314 555 0177")
    publish(first)
    planned(api, agency, first.data.appointment_id)

    unverified = api.post("/v1/sms/inbound", data={"From": "+13145550177", "Body": "STOP"})
    assert unverified.status_code == 403
    stop = api.post("/v1/sms/inbound", data={"From": "+13145550177", "Body": " stop "},
                    headers={"X-Diversion-Inbound-Secret": INBOUND_SECRET})
    assert stop.status_code == 204, stop.text
    nul = api.post("/v1/sms/inbound", data={"From": "+13145550177", "Body": "stop\x00"},
                   headers={"X-Diversion-Inbound-Secret": INBOUND_SECRET})
    assert nul.status_code == 422 and [e["field"] for e in nul.json()["errors"]] == ["Body"], nul.text

    clock.set(datetime(2031, 3, 6, 14, 0, tzinfo=CHICAGO))  # both reminders are due now
    wait_for(lambda: [r["status"] for r in reminders(api, agency, first.data.appointment_id)] == ["skipped"] * 2,
             what="both reminders skipped")
    assert {r["skip_reason"] for r in reminders(api, agency, first.data.appointment_id)} == {
        "the participant opted out of SMS (STOP)"}
    assert provider.requests == []

    # START, signed the way the provider signs (X-Twilio-Signature over the public URL and the form).
    form = {"From": "+13145550177", "Body": "START", "MessageSid": "SM123"}
    signature = twilio_signature("twilio-token", "https://notify.example.org/v1/sms/inbound", form.items())
    start = api.post("/v1/sms/inbound", data=form, headers={"X-Twilio-Signature": signature})
    assert start.status_code == 204, start.text
    forged = api.post("/v1/sms/inbound", data={**form, "Body": "STOP"}, headers={"X-Twilio-Signature": signature})
    assert forged.status_code == 403
    later = appointment(agency, APPOINTMENT + timedelta(days=7), phone="+1 314 555 0177")
    publish(later)
    planned(api, agency, later.data.appointment_id)
    clock.set(datetime(2031, 3, 12, 15, 1, tzinfo=CHICAGO))
    wait_for(lambda: len(provider.requests) == 1, what="a reminder after START")


def test_do_not_contact_set_by_staff_stops_reminders(notifications, make_receiver, agency):
    provider = make_receiver()
    api = notifications(**sms_env(provider))
    clock = manual_clock(api, start=START)
    event = appointment(agency, APPOINTMENT, phone="+13145550188", case_id="case-dnc")
    publish(event)
    token = make_token(agency, ("case_manager",))
    current = wait_for(lambda: (r := api.get("/v1/contact-preferences/case-dnc", token=token)).status_code == 200
                       and r, what="the contact preferences from the event")
    assert current.json()["has_phone"] is True
    stale = api.request("PUT", "/v1/contact-preferences/case-dnc", token=token, json={"do_not_contact": True},
                        headers={"If-Match": '"case-dnc.999"'})
    assert stale.status_code == 412
    saved = api.request("PUT", "/v1/contact-preferences/case-dnc", token=token, json={"do_not_contact": True},
                        headers={"If-Match": current.headers["ETag"]})
    assert saved.status_code == 200, saved.text
    clock.set(datetime(2031, 3, 6, 14, 0, tzinfo=CHICAGO))
    wait_for(lambda: {r["status"] for r in reminders(api, agency, event.data.appointment_id)} == {"skipped"},
             what="reminders skipped")
    assert provider.requests == []


def test_agency_template_override_changes_the_sms_and_a_sandbox_escape_is_refused(
    notifications, make_receiver, agency
):
    provider = make_receiver()
    provider.reply = lambda request: (201, {}, b"{}")
    api = notifications(**sms_env(provider), DIVERSION_NOTIFICATIONS_REMINDER_OFFSETS="24h")
    clock = manual_clock(api, start=START)
    admin = make_token(agency, ("admin",))
    escape = api.request("PUT", "/v1/templates/appointment_reminder", token=admin, json={
        "language": "en", "part": "sms", "source": "{{ ''.__class__.__mro__[1].__subclasses__() }}"})
    assert escape.status_code == 422
    saved = api.request("PUT", "/v1/templates/appointment_reminder", token=admin, json={
        "language": "en", "part": "sms", "source": "See you {{ appointment_at|when }}, {{ first_name }}!"})
    assert saved.status_code == 200, saved.text
    event = appointment(agency, APPOINTMENT, phone="+13145550155", participant_first_name="Jo")
    publish(event)
    planned(api, agency, event.data.appointment_id)
    clock.set(datetime(2031, 3, 5, 15, 1, tzinfo=CHICAGO))
    wait_for(lambda: provider.requests, what="the reminder")
    body = parse_qs(provider.requests[0].body.decode())["Body"][0]
    assert body == "See you Thursday, March 6 at 3:00 PM, Jo!"


@pytest.mark.parametrize("body", ["please stop texting me", "HELP"])
def test_an_ordinary_reply_does_not_opt_out(notifications, make_receiver, agency, body):
    provider = make_receiver()
    api = notifications(**sms_env(provider))
    response = api.post("/v1/sms/inbound", data={"From": "+13145550166", "Body": body},
                        headers={"X-Diversion-Inbound-Secret": INBOUND_SECRET})
    assert response.status_code == 204
    preferences = api.get("/v1/contact-preferences/none", token=make_token(agency, ("case_manager",)))
    assert preferences.status_code == 404
