"""One referral from intake to dismissal across the four services, run as separate processes the way
`make run` runs them, on the real broker and PostgreSQL: the same walkthrough `diversion demo` prints."""

from __future__ import annotations

import json
from datetime import timedelta

from shared.mailcatcher import text_of
from tests.conftest import make_token
from tests.e2e.conftest import SERVICES, call


def test_one_referral_travels_from_intake_to_dismissal_across_all_four_services(suite, mail):
    from shared.demo import PARTICIPANT_EMAIL, Step, Walkthrough

    steps: list[Step] = []
    out = Walkthrough(suite, make_token, steps.append, reminder_lead=timedelta(hours=2), mailbox=mail.messages).run()

    young_adult = next(p for p in out.screening["programs"] if p["program"] == "young-adult")
    assert young_adult["status"] == "eligible"
    assert all(c["reason"] for c in young_adult["criteria"])
    assert out.case["state"] == "active" and out.case["program_id"] == "young-adult"
    # the partner's copy verified with the Standard Webhooks reference library inside the walkthrough
    assert out.service_referral_id in json.dumps(out.webhook_payload)
    body = out.webhook_body.decode()
    assert "2611-CR" not in body and "570.030" not in body  # never charges or case numbers
    assert out.disposition == "dismissal"
    # the partner's answer came back to casework as an event and moved the linked goal of the support plan
    assert out.goal["status"] == "in_progress" and out.goal["domain"] == "housing"
    assert out.goal["service_referral_ids"] == [out.service_referral_id]

    # the appointment's 2-hour reminder reached the participant's inbox, through the real SMTP channel
    assert out.reminder["status"] == "queued" and out.reminder["offset_minutes"] == 120
    assert out.reminder_delivery["status"] == "delivered" and out.reminder_delivery["channel"] == "email"
    reminder = out.reminder_mail
    assert reminder is not None and PARTICIPANT_EMAIL in reminder["X-Envelope-To"]
    assert PARTICIPANT_EMAIL in reminder["To"]
    assert "Diversion Unit office" in text_of(reminder) and "Jordan" in text_of(reminder)
    assert "2611-CR" not in reminder.as_string() and "570.030" not in reminder.as_string()
    assert {step.service for step in steps} == set(SERVICES)

    # exactly one case for the referral, and the audit trail of the decision and of reads of the record
    supervisor = make_token("stl-cao", ("supervisor",), sub="supervisor-1")
    auditor = make_token("stl-cao", ("auditor",), sub="auditor-1")
    # the dismissal sealed the case: gone for the supervisor, one case for a records officer with a legal basis
    officer = make_token("stl-cao", ("records_officer",), sub="records-officer-1")
    assert out.sealing["kind"] == "sealing" and not out.sealing["missing"]
    cases = call("GET", f"{suite['casework']}/v1/cases?limit=200", supervisor, 200).json()["items"]
    assert [c for c in cases if c["referral_id"] == out.referral_id] == []
    cases = call("GET", f"{suite['casework']}/v1/cases?limit=200", officer, 200,
                 headers={"X-Legal-Basis": "criminal-justice-agency"}).json()["items"]
    assert len([c for c in cases if c["referral_id"] == out.referral_id]) == 1
    trail = call("GET", f"{suite['intake']}/v1/audit", auditor, 200,
                 params={"resource_id": out.referral_id, "limit": 200})
    actions = {row["action"] for row in trail.json()["items"]}
    assert any("read" in action for action in actions), actions
    assert any("accept" in action or "decision" in action for action in actions), actions

