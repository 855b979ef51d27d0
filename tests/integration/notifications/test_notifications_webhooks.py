"""Partner webhooks end to end: subscribe, event -> delivery -> signed POST -> logged, retries, 410, SSRF."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from cloudevents.core.bindings.http import HTTPMessage, from_http_event
from cloudevents.core.formats.json import JSONFormat
from notifications_events import referral_requested, referral_status
from notifications_support import manual_clock, publish, publish_many, runtime_of, wait_for
from sqlalchemy import create_engine, text
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from services.notifications.domain.clock import ManualClock
from shared.messaging.metrics import duplicates_absorbed
from tests.conftest import make_token


def partner(agency: str, org: str) -> str:
    return make_token(agency, ("partner",), org=org)


def subscribe(api, agency: str, org: str, url: str, **extra) -> dict:
    response = api.post("/v1/subscriptions", token=partner(agency, org), json={"url": url, **extra})
    assert response.status_code == 201, response.text
    return response.json()


def deliveries(api, agency: str, org: str, **query) -> list[dict]:
    response = api.get("/v1/deliveries", token=partner(agency, org), params=query)
    assert response.status_code == 200, response.text
    return response.json()["items"]


def test_event_reaches_the_partner_as_a_signed_post_that_the_reference_library_verifies(
    notifications, make_receiver, agency
):
    api = notifications()
    receiver = make_receiver()
    created = subscribe(api, agency, "org-a", receiver.url + "/hooks")
    assert created["secret"].startswith("whsec_")
    other = make_receiver()
    subscribe(api, agency, "org-b", other.url)  # another partner: must not see org-a's referral

    event = referral_requested(agency, "org-a")
    publish(event)
    wait_for(lambda: receiver.requests, what="the signed POST")
    [request] = receiver.requests
    payload = Webhook(created["secret"]).verify(request.body, request.headers)
    assert payload["type"] == "org.diversion.resources.service_referral.requested"
    assert payload["data"]["service_referral_id"] == event.data.service_referral_id
    with pytest.raises(WebhookVerificationError):
        Webhook(created["secret"]).verify(request.body.replace(b'"Ana"', b'"Eve"'), request.headers)

    [delivery] = wait_for(lambda: [d for d in deliveries(api, agency, "org-a") if d["status"] == "delivered"],
                          what="the delivery to be logged as delivered")
    assert delivery["id"] == request.headers["webhook-id"]
    attempts = api.get(f"/v1/deliveries/{delivery['id']}/attempts", token=partner(agency, "org-a")).json()
    assert [(a["outcome"], a["status_code"]) for a in attempts] == [("delivered", 200)]
    assert attempts[0]["latency_ms"] > 0
    assert other.requests == []
    assert deliveries(api, agency, "org-b") == []


def test_a_structured_webhook_is_a_cloudevent_to_the_cloudevents_sdk_and_verifies_during_rotation(
    notifications, make_receiver, agency
):
    """What a partner's stock tooling sees: the CloudEvents SDK reads the POST from its headers and body
    (structured content mode, `application/cloudevents+json`), and `standardwebhooks` verifies it with
    the old secret and with the new one while a rotation lasts."""
    api = notifications()
    receiver = make_receiver()
    created = subscribe(api, agency, "org-a", receiver.url + "/hooks")
    token = partner(agency, "org-a")
    etag = api.get(f"/v1/subscriptions/{created['id']}", token=token).headers["ETag"]
    rotated = api.post(f"/v1/subscriptions/{created['id']}/secret-rotation", token=token, headers={"If-Match": etag})
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["secret"]
    assert new_secret != created["secret"]

    event = referral_requested(agency, "org-a")
    publish(event)
    [request] = wait_for(lambda: receiver.requests, what="the webhook")

    media_type, _, parameters = request.headers["content-type"].partition(";")
    assert media_type.strip() == JSONFormat().get_content_type() == "application/cloudevents+json"
    assert parameters.strip() == "charset=utf-8"
    assert not [name for name in request.headers if name.startswith("ce-")]  # structured, not binary mode
    received = from_http_event(HTTPMessage(headers=request.headers, body=request.body))
    assert received.get_specversion() == "1.0"
    assert received.get_id() == event.id
    assert received.get_source() == "/diversion/resources"
    assert received.get_type() == "org.diversion.resources.service_referral.requested"
    assert received.get_subject() == event.subject
    assert received.get_extension("tenantid") == agency
    assert received.get_data()["service_referral_id"] == event.data.service_referral_id

    assert len(request.headers["webhook-signature"].split(" ")) == 2
    for secret in (new_secret, created["secret"]):
        assert Webhook(secret).verify(request.body, request.headers)["id"] == event.id
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret).verify(request.body.replace(b'"Ana"', b'"Eve"'), request.headers)


def test_a_signature_six_minutes_old_fails_verification(notifications, make_receiver, agency):
    api = notifications()
    receiver = make_receiver()
    created = subscribe(api, agency, "org-a", receiver.url)
    runtime_of(api).channels["webhook"].clock = ManualClock(datetime.now(UTC) - timedelta(minutes=6))
    publish(referral_requested(agency, "org-a"))
    wait_for(lambda: receiver.requests, what="the POST")
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(created["secret"]).verify(receiver.requests[0].body, receiver.requests[0].headers)


def test_event_type_filters_choose_what_a_subscription_receives(notifications, make_receiver, agency):
    api = notifications()
    everything, declines_only = make_receiver(), make_receiver()
    subscribe(api, agency, "org-a", everything.url)
    subscribe(api, agency, "org-a", declines_only.url,
              event_types=["org.diversion.resources.service_referral.status_changed"])
    publish(referral_requested(agency, "org-a"))
    publish(referral_status(agency, "org-a", status="accepted"))
    wait_for(lambda: len(everything.requests) == 2 and declines_only.requests, what="both deliveries")
    assert [json.loads(r.body)["type"].rsplit(".", 2)[-2:] for r in declines_only.requests] == [
        ["service_referral", "status_changed"]]


def test_endpoint_down_then_back_gets_the_delivery_after_recovery_with_the_same_webhook_id(
    notifications, make_receiver, agency
):
    api = notifications()
    clock = manual_clock(api)
    receiver = make_receiver()
    receiver.reply = lambda request: (503, {}, b"down")
    created = subscribe(api, agency, "org-a", receiver.url)
    publish(referral_requested(agency, "org-a"))
    wait_for(lambda: len(receiver.requests) == 1, what="the first attempt")
    [delivery] = wait_for(lambda: [d for d in deliveries(api, agency, "org-a", status="pending") if d["attempts"]],
                          what="the retry to be scheduled")
    # Standard Webhooks schedule: the second attempt 5 s after the first.
    assert datetime.fromisoformat(delivery["next_attempt_at"]) == pytest.approx(
        clock.now() + timedelta(seconds=5), abs=timedelta(seconds=1))
    clock.advance(timedelta(seconds=6))
    wait_for(lambda: len(receiver.requests) == 2, what="the second attempt")
    receiver.reply = lambda request: (200, {}, b"back")
    clock.advance(timedelta(minutes=6))
    wait_for(lambda: len(receiver.requests) == 3, what="the attempt after recovery")
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1
    Webhook(created["secret"]).verify(receiver.requests[-1].body, receiver.requests[-1].headers)
    wait_for(lambda: deliveries(api, agency, "org-a", status="delivered"), what="delivered")
    attempts = api.get(f"/v1/deliveries/{delivery['id']}/attempts", token=partner(agency, "org-a")).json()
    assert [(a["outcome"], a["status_code"]) for a in attempts] == [("retry", 503), ("retry", 503),
                                                                     ("delivered", 200)]


def test_retry_after_from_the_receiver_is_honoured(notifications, make_receiver, agency):
    api = notifications()
    clock = manual_clock(api)
    receiver = make_receiver()
    receiver.reply = lambda request: (429, {"Retry-After": "3600"}, b"slow down")
    subscribe(api, agency, "org-a", receiver.url)
    publish(referral_requested(agency, "org-a"))
    [delivery] = wait_for(lambda: [d for d in deliveries(api, agency, "org-a", status="pending") if d["attempts"]],
                          what="a scheduled retry")
    assert datetime.fromisoformat(delivery["next_attempt_at"]) >= clock.now() + timedelta(seconds=3599)
    clock.advance(timedelta(minutes=30))  # the schedule alone would have retried by now
    with pytest.raises(AssertionError):
        wait_for(lambda: len(receiver.requests) > 1, timeout=0.6, what="no early retry")


def test_after_the_last_attempt_the_delivery_fails_announces_it_and_can_be_replayed(
    notifications, make_receiver, agency, notifications_db
):
    api = notifications()
    clock = manual_clock(api)
    receiver = make_receiver()
    receiver.reply = lambda request: (500, {}, b"broken")
    subscribe(api, agency, "org-a", receiver.url)
    publish(referral_requested(agency, "org-a"))
    for attempt in range(1, 11):
        wait_for(lambda n=attempt: len(receiver.requests) >= n, what=f"attempt {attempt}")
        wait_for(lambda: deliveries(api, agency, "org-a", status="sending") == [], what="the attempt recorded")
        clock.advance(timedelta(hours=25))
    [failed] = wait_for(lambda: deliveries(api, agency, "org-a", status="failed"), what="the delivery to fail")
    assert failed["attempts"] == 10 and len(receiver.requests) == 10
    engine = create_engine(notifications_db.replace("+psycopg2", ""))
    with engine.connect() as connection:
        announced = connection.execute(text(
            "SELECT event_type FROM outbox WHERE subject = :id"), {"id": failed["id"]}).scalars().all()
    engine.dispose()
    assert announced == ["org.diversion.notifications.delivery.failed"]

    receiver.reply = lambda request: (200, {}, b"fixed")
    replayed = api.post(f"/v1/deliveries/{failed['id']}/replay", token=partner(agency, "org-a"))
    assert replayed.status_code == 202, replayed.text
    wait_for(lambda: deliveries(api, agency, "org-a", status="delivered"), what="the replayed delivery")
    assert receiver.requests[-1].headers["webhook-id"] == failed["id"]
    again = api.post(f"/v1/deliveries/{failed['id']}/replay", token=partner(agency, "org-a"))
    assert again.status_code == 409


def test_a_410_answer_disables_the_subscription(notifications, make_receiver, agency):
    api = notifications()
    receiver = make_receiver()
    receiver.reply = lambda request: (410, {}, b"gone")
    created = subscribe(api, agency, "org-a", receiver.url)
    publish(referral_requested(agency, "org-a"))
    wait_for(lambda: api.get(f"/v1/subscriptions/{created['id']}", token=partner(agency, "org-a"))
             .json()["status"] == "disabled", what="the subscription to be disabled")
    [delivery] = deliveries(api, agency, "org-a")
    assert delivery["status"] == "failed" and delivery["last_status_code"] == 410
    publish(referral_requested(agency, "org-a"))
    with pytest.raises(AssertionError):
        wait_for(lambda: len(receiver.requests) > 1, timeout=1.0, what="nothing more to a gone receiver")


def test_a_redirect_is_not_followed(notifications, make_receiver, agency):
    api = notifications()
    elsewhere = make_receiver()
    receiver = make_receiver()
    receiver.reply = lambda request: (307, {"Location": elsewhere.url}, b"")
    created = subscribe(api, agency, "org-a", receiver.url)
    ping = api.post(f"/v1/subscriptions/{created['id']}/ping", token=partner(agency, "org-a"))
    assert ping.status_code == 200, ping.text
    assert ping.json()["outcome"] == "failed" and ping.json()["status_code"] == 307
    assert "redirect" in ping.json()["error"]
    assert elsewhere.requests == [] and len(receiver.requests) == 1


def test_a_slow_endpoint_does_not_delay_deliveries_to_others(notifications, make_receiver, agency):
    api = notifications()
    slow, fast = make_receiver(), make_receiver()
    slow.reply = slow.hang
    subscribe(api, agency, "org-slow", slow.url)
    subscribe(api, agency, "org-fast", fast.url)
    publish(referral_requested(agency, "org-slow"))
    wait_for(lambda: slow.requests, what="the slow endpoint to be called")
    for _ in range(5):
        publish(referral_requested(agency, "org-fast"))
    wait_for(lambda: len(fast.requests) == 5, timeout=2.5, what="the fast partner's deliveries")
    assert not slow.release.is_set()  # the slow one is still holding its connection


@pytest.mark.parametrize("url", [
    "http://10.1.2.3/hook", "http://169.254.169.254/latest/meta-data", "http://localhost:9/hook",
    "http://[::1]/hook", "http://192.168.0.10/hook", "ftp://example.org/hook",
])
def test_private_loopback_and_link_local_targets_are_refused(notifications, agency, url):
    api = notifications(DIVERSION_NOTIFICATIONS_WEBHOOK_ALLOW_LIST="")
    response = api.post("/v1/subscriptions", token=partner(agency, "org-a"), json={"url": url})
    assert response.status_code == 422, response.text
    assert response.json()["type"].endswith("/webhook-target-refused")


def test_duplicate_event_makes_one_delivery(notifications, make_receiver, agency):
    api = notifications()
    receiver = make_receiver()
    subscribe(api, agency, "org-a", receiver.url)
    event = referral_requested(agency, "org-a")
    publish(event)
    publish(event)
    wait_for(lambda: deliveries(api, agency, "org-a", status="delivered"), what="the delivery")
    with pytest.raises(AssertionError):
        wait_for(lambda: len(receiver.requests) > 1, timeout=1.0, what="no second delivery")
    assert len(deliveries(api, agency, "org-a")) == 1


def test_a_burst_of_events_for_several_partners_makes_one_delivery_per_matching_subscription(
    notifications, make_receiver, agency
):
    api = notifications()
    a, b, b_declines_only = make_receiver(), make_receiver(), make_receiver()
    subscribe(api, agency, "org-a", a.url)
    subscribe(api, agency, "org-b", b.url)
    subscribe(api, agency, "org-b", b_declines_only.url,
              event_types=["org.diversion.resources.service_referral.status_changed"])
    orgs = ["org-a", "org-b", "org-c"]  # org-c has no subscription
    events = [referral_requested(agency, orgs[n % 3]) for n in range(60)]
    copies_before = duplicates_absorbed("notifications")
    publish_many([*events, *events[:6]])  # applied in batches (shared subscription lookup); copies too

    wait_for(lambda: duplicates_absorbed("notifications") >= copies_before + 6, timeout=30, what="the 6 copies")
    wait_for(lambda: len(a.requests) >= 20 and len(b.requests) >= 20, timeout=30, what="one POST per event")
    expected = {org: sorted(e.id for e in events if e.data.organization_id == org) for org in orgs}
    assert sorted(json.loads(r.body)["id"] for r in a.requests) == expected["org-a"]
    assert sorted(json.loads(r.body)["id"] for r in b.requests) == expected["org-b"]
    assert b_declines_only.requests == []
    assert len({r.headers["webhook-id"] for r in a.requests + b.requests}) == 40
    assert len(deliveries(api, agency, "org-a")) == len(deliveries(api, agency, "org-b")) == 20
