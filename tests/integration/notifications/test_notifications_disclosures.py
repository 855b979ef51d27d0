"""A partner's delivery of a service referral is a disclosure: delivered or withheld, notifications publishes
`disclosure.recorded` for casework's accounting (ADR 0071); other deliveries are not disclosures."""

from __future__ import annotations

import json
from datetime import timedelta

from notifications_events import referral_requested, referral_status
from notifications_support import manual_clock, publish, publish_many, wait_for
from sqlalchemy import create_engine, text

from tests.conftest import make_token

DISCLOSURE = "org.diversion.notifications.disclosure.recorded"


def partner(agency: str, org: str) -> str:
    return make_token(agency, ("partner",), org=org)


def deliveries(api, agency: str, org: str, **query) -> list[dict]:
    response = api.get("/v1/deliveries", token=partner(agency, org), params=query)
    assert response.status_code == 200, response.text
    return response.json()["items"]


def disclosures(url: str) -> list[dict]:
    engine = create_engine(url.replace("+psycopg2", ""))
    with engine.connect() as connection:
        bodies = connection.execute(text("SELECT body FROM outbox WHERE event_type = :t ORDER BY id"),
                                    {"t": DISCLOSURE}).scalars().all()
    engine.dispose()
    return [json.loads(b) for b in bodies]


def test_a_delivered_referral_is_a_disclosure_and_a_withheld_one_says_why(
        notifications, make_receiver, agency, notifications_db):
    api = notifications()
    clock = manual_clock(api)
    receiver = make_receiver()
    sub = api.post("/v1/subscriptions", token=partner(agency, "org-a"), json={"url": receiver.url})
    assert sub.status_code == 201, sub.text
    sent = referral_requested(agency, "org-a")
    publish_many([sent, referral_status(agency, "org-a")])  # a status change names no one: not a disclosure
    wait_for(lambda: len(deliveries(api, agency, "org-a", status="delivered")) == 2, what="both delivered")
    [delivered] = disclosures(notifications_db)
    assert delivered["tenantid"] == agency and delivered["subject"] == sent.data.service_referral_id
    data = delivered["data"]
    assert (data["outcome"], data["channel"], data["recipient_org_id"], data["service_referral_id"],
            data["consent_id"], data["participant_id"]) == (
        "disclosed", "webhook", "org-a", sent.data.service_referral_id, "consent-1", None)

    # the partner's endpoint fails, the subscription is disabled before the retry: withheld, with the reason
    receiver.reply = lambda request: (500, {}, b"broken")
    held = referral_requested(agency, "org-a")
    publish(held)
    wait_for(lambda: len(receiver.requests) == 3, what="the failing attempt")
    wait_for(lambda: deliveries(api, agency, "org-a", status="pending"), what="the retry scheduled")
    current = api.get(f"/v1/subscriptions/{sub.json()['id']}", token=partner(agency, "org-a"))
    disabled = api.post(f"/v1/subscriptions/{sub.json()['id']}/disable", token=partner(agency, "org-a"),
                        headers={"If-Match": current.headers["ETag"]})
    assert disabled.status_code == 200, disabled.text
    clock.advance(timedelta(hours=25))
    wait_for(lambda: deliveries(api, agency, "org-a", status="cancelled"), what="the delivery withheld")
    events = wait_for(lambda: (found := disclosures(notifications_db)) and len(found) == 2 and found,
                      what="the withheld disclosure")
    withheld = events[1]["data"]
    assert (withheld["outcome"], withheld["service_referral_id"], withheld["reason"]) == (
        "withheld", held.data.service_referral_id, "the subscription is disabled")
    assert len(receiver.requests) == 3
