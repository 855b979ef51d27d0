"""A partner's delivery of a service referral is a disclosure: delivered or withheld, notifications publishes
`disclosure.recorded` for casework's accounting (ADR 0071); other deliveries are not disclosures."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from notifications_events import consent_id_for, consent_recorded, referral_requested, referral_status
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
    # under the default sharing profile a status change carries the first name and contact too (ADR 0070)
    changed = referral_status(agency, "org-a")
    publish_many([sent, changed])
    wait_for(lambda: len(deliveries(api, agency, "org-a", status="delivered")) == 2, what="both delivered")
    found = wait_for(lambda: (got := disclosures(notifications_db)) and len(got) == 2 and got, what="two")
    by_referral = {e["data"]["service_referral_id"]: e for e in found}
    delivered = by_referral[sent.data.service_referral_id]
    assert delivered["tenantid"] == agency and delivered["subject"] == sent.data.service_referral_id
    data = delivered["data"]
    assert (data["outcome"], data["channel"], data["recipient_org_id"], data["service_referral_id"],
            data["consent_id"], data["participant_id"]) == (
        "disclosed", "webhook", "org-a", sent.data.service_referral_id, consent_id_for(agency, "org-a"), None)
    assert "contact_info" in data["categories"]
    assert by_referral[changed.data.service_referral_id]["data"]["outcome"] == "disclosed"

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
    events = wait_for(lambda: (found := disclosures(notifications_db)) and len(found) == 3 and found,
                      what="the withheld disclosure")
    withheld = events[2]["data"]
    assert (withheld["outcome"], withheld["service_referral_id"], withheld["reason"]) == (
        "withheld", held.data.service_referral_id, "the subscription is disabled")
    assert len(receiver.requests) == 3


def test_a_delivery_under_a_revoked_consent_is_withheld_at_send_time_and_replay_refuses_it(
        notifications, make_receiver, agency, notifications_db):
    """ADR 0070: the check is made when the delivery is to be sent, against notifications' copy of consents."""
    api = notifications()
    manual_clock(api)
    receiver = make_receiver()
    sub = api.post("/v1/subscriptions", token=partner(agency, "org-a"), json={"url": receiver.url})
    assert sub.status_code == 201, sub.text
    publish(consent_recorded(agency, "org-a", revoked_on=datetime.now(UTC).date().isoformat()), consent=False)
    event = referral_requested(agency, "org-a")
    publish(event, consent=False)
    [held] = wait_for(lambda: deliveries(api, agency, "org-a", status="withheld"), what="the delivery withheld")
    assert "no consent covers this disclosure now" in held["last_error"] and "revoked" in held["last_error"]
    assert receiver.requests == []
    replay = api.post(f"/v1/deliveries/{held['id']}/replay", token=partner(agency, "org-a"))
    assert replay.status_code == 409, replay.text
    [accounted] = wait_for(lambda: disclosures(notifications_db), what="the withheld disclosure")
    assert accounted["data"]["outcome"] == "withheld" and "revoked" in accounted["data"]["reason"]


def test_a_delivery_whose_consent_is_not_copied_yet_waits_for_it(
        notifications, make_receiver, agency, notifications_db):
    """consent.recorded and the partner event travel on different queues: the delivery waits, not withheld."""
    api = notifications()
    receiver = make_receiver()
    sub = api.post("/v1/subscriptions", token=partner(agency, "org-a"), json={"url": receiver.url})
    assert sub.status_code == 201, sub.text
    event = referral_requested(agency, "org-a")
    publish(event, consent=False)
    wait_for(lambda: deliveries(api, agency, "org-a", status="pending"), what="the delivery queued")
    wait_for(lambda: len(_put_back(notifications_db)) >= 1, what="the claim undone while the consent is unknown")
    assert receiver.requests == [] and deliveries(api, agency, "org-a", status="withheld") == []
    publish(consent_recorded(agency, "org-a"), consent=False)
    wait_for(lambda: deliveries(api, agency, "org-a", status="delivered"), what="delivered once the copy knows it")
    assert len(receiver.requests) == 1
    body = json.loads(receiver.requests[0].body)
    assert body["data"]["service_referral_id"] == event.data.service_referral_id


def _put_back(url: str) -> list[str]:
    """Deliveries claimed at least once and put back untried (no attempt logged) while the consent was unknown."""
    engine = create_engine(url.replace("+psycopg2", ""))
    with engine.connect() as connection:
        rows = connection.execute(text(
            "SELECT d.id FROM delivery d WHERE d.status = 'pending' AND d.attempts = 0 AND d.updated_at > "
            "d.created_at AND NOT EXISTS (SELECT 1 FROM delivery_attempt a WHERE a.delivery_id = d.id)"
        )).scalars().all()
    engine.dispose()
    return list(rows)
