"""The agency's own system in the loop: an agency subscription receives the prosecution record's referral,
decision and disposition events (signed, Standard Webhooks); a partner never does. The screening team is told
when a referral comes back to the review queue."""

from __future__ import annotations

from datetime import UTC, date, datetime
from email import message_from_bytes
from email.policy import default as default_policy

from notifications_events import referral_requested
from notifications_support import publish, wait_for
from standardwebhooks.webhooks import Webhook

from shared.messaging import new_event
from shared.messaging.catalog import (
    ChargeRecord,
    Participant,
    ReferralAccepted,
    ReferralDisposed,
    ReferralReviewDue,
)
from tests.conftest import make_token

NOW = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)


def accepted(agency: str, referral_id: str) -> object:
    data = ReferralAccepted(referral_id=referral_id, case_number="2611-CR00123", program="young-adult", min_months=6,
                            max_months=18, participant=Participant(first_name="Dana", last_name="Brooks",
                                                                   date_of_birth=date(2003, 4, 5)),
                            accepted_at=NOW, decided_by="screener-1")
    return new_event(data, subject=referral_id, tenantid=agency)


def disposed(agency: str, referral_id: str) -> object:
    data = ReferralDisposed(referral_id=referral_id, case_number="2611-CR00123", case_id="case-9",
                            program="young-adult", disposition="dismissal", disposed_at=NOW,
                            charges=[ChargeRecord(statute="570.030", description="Stealing", offense_class="felony_d",
                                                  offense_date=date(2026, 3, 1))])
    return new_event(data, subject=referral_id, tenantid=agency)


def test_the_agency_system_receives_acceptance_and_disposition_and_a_partner_never_does(
    notifications, make_receiver, agency
):
    api = notifications()
    admin = make_token(agency, ("admin",))
    system, partner_hook = make_receiver(), make_receiver()
    response = api.post("/v1/subscriptions", token=admin, json={"audience": "agency", "url": system.url + "/cms"})
    assert response.status_code == 201, response.text
    subscription = response.json()
    assert subscription["audience"] == "agency" and subscription["event_types"] == []
    partner = make_token(agency, ("partner",), org="org-a")
    assert api.post("/v1/subscriptions", token=partner,
                    json={"url": partner_hook.url}).status_code == 201  # everything a partner may have
    # A partner can neither subscribe the prosecution record's events nor act as the agency.
    refused = api.post("/v1/subscriptions", token=partner, json={"url": partner_hook.url,
                                                                  "event_types": ["referral.accepted"]})
    assert refused.status_code == 422, refused.text
    assert api.post("/v1/subscriptions", token=partner, json={"audience": "agency",
                                                               "url": partner_hook.url}).status_code == 403
    assert api.post("/v1/subscriptions", token=admin, json={"audience": "agency", "channel": "amqp_feed"}
                    ).status_code == 422
    assert subscription["id"] not in [s["id"] for s in api.get("/v1/subscriptions", token=partner).json()]

    publish(accepted(agency, "ref-1"))
    publish(disposed(agency, "ref-1"))
    publish(referral_requested(agency, "org-a"))  # the partner's own kind of event, as a marker
    wait_for(lambda: len(system.requests) == 2 and partner_hook.requests, what="the agency's two events")
    verifier = Webhook(subscription["secret"])
    payloads = {p["type"]: p for p in (verifier.verify(r.body, r.headers) for r in system.requests)}
    assert set(payloads) == {"org.diversion.intake.referral.accepted", "org.diversion.intake.referral.disposed"}
    record = payloads["org.diversion.intake.referral.disposed"]["data"]
    assert (record["case_number"], record["disposition"], record["charges"][0]["statute"]) == (
        "2611-CR00123", "dismissal", "570.030")
    assert [r for r in partner_hook.requests if b"org.diversion.intake." in r.body] == []
    assert len(partner_hook.requests) == 1


def test_the_screening_team_is_emailed_when_a_referral_comes_back(notifications, smtp_server, agency):
    port, sink = smtp_server
    api = notifications(DIVERSION_NOTIFICATIONS_SMTP_PORT=str(port),
                        DIVERSION_NOTIFICATIONS_STAFF_APP_URL="https://staff.example.org")
    admin = make_token(agency, ("admin",))
    assert api.request("PUT", "/v1/staff-contacts/scr-1", token=admin, json={
        "email": "screening@example.org", "language": "es", "topics": ["screening_review"]}).status_code == 201
    assert api.request("PUT", "/v1/staff-contacts/cm-1", token=admin,
                       json={"email": "cm@example.org"}).status_code == 201  # not on the screening team
    publish(new_event(ReferralReviewDue(referral_id="ref-7", reasons=["deferral_ended"], due_on=date(2026, 12, 1),
                                        queued_at=NOW), subject="ref-7", tenantid=agency))
    wait_for(lambda: sink.envelopes, what="the screening team's email")
    [mail] = [message_from_bytes(e.content, policy=default_policy) for e in sink.envelopes]
    assert mail["To"] == "screening@example.org"
    assert mail["Subject"] == "La remisión ref-7 vuelve a la cola de revisión"
    text = mail.get_body(("plain",)).get_content()
    assert "llegó la fecha de su aplazamiento" in text and "https://staff.example.org/referrals/ref-7" in text
