"""Sealing (ADR 0083): record.sealing_requested withdraws the case's reminders (they never reach the mail
server), marks its deliveries and contact sealed once however often it arrives, confirms every time, and the
delivery log hides sealed deliveries from ordinary roles while a records officer opens them on a legal basis."""

from __future__ import annotations

from datetime import datetime
from email import message_from_bytes
from email.policy import default as default_policy
from zoneinfo import ZoneInfo

from notifications_events import appointment, case_assigned, uid
from notifications_records import SEALING_CONFIRMED, confirmations, new_request, query, sealing_requested
from notifications_support import manual_clock, publish, wait_for

from tests.conftest import make_token

CHICAGO = ZoneInfo("America/Chicago")
START = datetime(2031, 3, 4, 10, 0, tzinfo=CHICAGO)
APPOINTMENT = datetime(2031, 3, 6, 15, 0, tzinfo=CHICAGO)  # the 24 h reminder: Wednesday 15:00


def recipients(sink) -> list[str]:
    return [message_from_bytes(e.content, policy=default_policy)["To"] for e in sink.envelopes]


def reminder_rows(url: str, case_id: str) -> list:
    return query(url, "SELECT status, skip_reason FROM reminder WHERE case_id = :c", c=case_id)


def test_a_sealed_cases_reminder_is_withdrawn_and_never_reaches_the_mail_server(
        notifications, smtp_server, agency, notifications_db):
    port, sink = smtp_server
    api = notifications(DIVERSION_NOTIFICATIONS_SMTP_PORT=str(port), DIVERSION_NOTIFICATIONS_REMINDER_OFFSETS="24h")
    clock = manual_clock(api, start=START)
    sealed_case, other_case = uid("case"), uid("case")
    publish(appointment(agency, APPOINTMENT, case_id=sealed_case, email="sealed@example.org", participant_id="p-1"))
    publish(appointment(agency, APPOINTMENT, case_id=other_case, email="other@example.org", participant_id="p-2"))
    wait_for(lambda: len(reminder_rows(notifications_db, sealed_case)) == 1
             and len(reminder_rows(notifications_db, other_case)) == 1, what="both reminders planned")

    request = new_request()
    publish(sealing_requested(agency, uid("ref"), sealed_case, request))
    [confirmed] = wait_for(lambda: confirmations(notifications_db, SEALING_CONFIRMED, request), what="the confirmation")
    assert confirmed["service"] == "notifications" and confirmed["counts"]["reminder_cancelled"] == 1
    assert confirmed["counts"]["case"] == 1
    assert reminder_rows(notifications_db, sealed_case) == [("cancelled", "record sealed")]

    clock.set(datetime(2031, 3, 5, 15, 1, tzinfo=CHICAGO))  # both reminders are due now
    wait_for(lambda: sink.envelopes, what="the other case's reminder")
    # The same dispatch pass queued every due reminder: the sealed one was not among them, and is not queued.
    assert recipients(sink) == ["other@example.org"]
    assert reminder_rows(notifications_db, sealed_case) == [("cancelled", "record sealed")]
    assert query(notifications_db, "SELECT count(*) FROM delivery WHERE recipient = 'sealed@example.org'") == [(0,)]
    # Its contact is sealed too: a case manager reads it as absent.
    token = make_token(agency, ("case_manager",))
    assert api.get(f"/v1/contact-preferences/{sealed_case}", token=token).status_code == 404
    assert api.get(f"/v1/contact-preferences/{other_case}", token=token).status_code == 200


def test_a_retried_request_marks_nothing_new_and_confirms_again(notifications, smtp_server, agency,
                                                                notifications_db):
    port, sink = smtp_server
    api = notifications(DIVERSION_NOTIFICATIONS_SMTP_PORT=str(port))
    admin = make_token(agency, ("admin",))
    assert api.request("PUT", "/v1/staff-contacts/cm-1", token=admin, json={"email": "dana@example.org"}).ok
    case_id, referral_id, request = uid("case"), uid("ref"), new_request()
    publish(case_assigned(agency, case_id, "cm-1"))
    wait_for(lambda: sink.envelopes, what="the assignment email")

    publish(sealing_requested(agency, referral_id, case_id, request, attempt=1))
    wait_for(lambda: confirmations(notifications_db, SEALING_CONFIRMED, request), what="the first confirmation")
    publish(sealing_requested(agency, referral_id, case_id, request, attempt=2))
    first, second = wait_for(lambda: (found := confirmations(notifications_db, SEALING_CONFIRMED, request))
                             and len(found) == 2 and found, what="the second confirmation")
    assert first["counts"] == {"delivery": 1, "case": 1, "reminder_cancelled": 0, "delivery_cancelled": 0}
    assert second["counts"] == {"delivery": 0, "case": 0, "reminder_cancelled": 0, "delivery_cancelled": 0}
    marks = query(notifications_db, "SELECT kind, request_id FROM record_mark WHERE agency_id = :a ORDER BY kind",
                  a=agency)
    assert marks == [("case", request), ("delivery", request)]


def test_the_delivery_log_hides_sealed_deliveries_except_from_a_records_officer_with_a_legal_basis(
        notifications, smtp_server, agency, notifications_db):
    port, sink = smtp_server
    api = notifications(DIVERSION_NOTIFICATIONS_SMTP_PORT=str(port))
    admin = make_token(agency, ("admin",))
    officer = make_token(agency, ("records_officer",), sub="officer-1")
    assert api.request("PUT", "/v1/staff-contacts/cm-1", token=admin, json={"email": "dana@example.org"}).ok
    sealed_case, open_case, request = uid("case"), uid("case"), new_request()
    publish(case_assigned(agency, sealed_case, "cm-1"))
    publish(case_assigned(agency, open_case, "cm-1"))
    wait_for(lambda: len(sink.envelopes) == 2, what="both assignment emails")
    [(sealed_id,)] = query(notifications_db, "SELECT id FROM delivery WHERE case_id = :c", c=sealed_case)
    [(open_id,)] = query(notifications_db, "SELECT id FROM delivery WHERE case_id = :c", c=open_case)
    publish(sealing_requested(agency, uid("ref"), sealed_case, request))
    wait_for(lambda: confirmations(notifications_db, SEALING_CONFIRMED, request), what="the confirmation")

    absent = api.get("/v1/deliveries/dlv_nonexistent", token=admin)
    sealed = api.get(f"/v1/deliveries/{sealed_id}", token=admin)
    assert sealed.status_code == absent.status_code == 404
    assert {k: v for k, v in sealed.json().items() if k not in ("detail", "instance", "request_id")} == {
        k: v for k, v in absent.json().items() if k not in ("detail", "instance", "request_id")}
    assert sealed.json()["detail"] == f"no delivery {sealed_id}"
    assert api.get(f"/v1/deliveries/{sealed_id}/attempts", token=admin).status_code == 404
    assert api.post(f"/v1/deliveries/{sealed_id}/replay", token=admin).status_code == 404
    listed = api.get("/v1/deliveries", token=admin).json()["items"]
    assert [d["id"] for d in listed] == [open_id]

    assert api.get(f"/v1/deliveries/{sealed_id}", token=officer).status_code == 400  # no X-Legal-Basis
    assert api.get(f"/v1/deliveries/{sealed_id}", token=officer,
                   headers={"X-Legal-Basis": "curiosity"}).status_code == 400
    opened = api.get(f"/v1/deliveries/{sealed_id}", token=officer, headers={"X-Legal-Basis": "court-order"})
    assert opened.status_code == 200 and opened.json()["id"] == sealed_id
    officer_list = api.get("/v1/deliveries", token=officer, headers={"X-Legal-Basis": "court-order"})
    assert sorted(d["id"] for d in officer_list.json()["items"]) == sorted([sealed_id, open_id])
    audits = query(notifications_db, "SELECT actor, resource_id, detail FROM audit_event "
                                     "WHERE action = 'sealed_record.opened' ORDER BY id")
    assert [(a.actor, a.resource_id, a.detail) for a in audits] == [
        ("officer-1", sealed_id, {"legal_basis": "court-order"})] * 2
