"""The subscriptions API: who sees what, secrets shown once, rotation with two signatures, ETags, pings."""

from __future__ import annotations

from standardwebhooks.webhooks import Webhook

from tests.conftest import make_token


def partner(agency: str, org: str) -> str:
    return make_token(agency, ("partner",), org=org)


def test_partner_sees_only_its_own_subscriptions_and_the_secret_only_once(notifications, make_receiver, agency):
    api = notifications()
    receiver = make_receiver()
    created = api.post("/v1/subscriptions", token=partner(agency, "org-a"),
                       json={"url": receiver.url, "event_types": ["service_referral.requested"]})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["org_id"] == "org-a" and body["secret"].startswith("whsec_")
    one = api.get(f"/v1/subscriptions/{body['id']}", token=partner(agency, "org-a"))
    assert one.status_code == 200 and "secret" not in one.json() and one.headers["ETag"]
    assert api.get(f"/v1/subscriptions/{body['id']}", token=partner(agency, "org-b")).status_code == 404
    assert api.get(f"/v1/subscriptions/{body['id']}", token=partner("other-agency", "org-a")).status_code == 404
    assert [s["id"] for s in api.get("/v1/subscriptions", token=partner(agency, "org-a")).json()] == [body["id"]]
    assert api.get("/v1/subscriptions", token=partner(agency, "org-b")).json() == []
    admin_view = api.get("/v1/subscriptions", token=make_token(agency, ("admin",))).json()
    assert [s["id"] for s in admin_view] == [body["id"]]
    assert api.post("/v1/subscriptions", token=partner(agency, "org-a"),
                    json={"url": receiver.url, "organization_id": "org-b"}).status_code == 403
    assert api.post("/v1/subscriptions", token=partner(agency, "org-a"),
                    json={"url": receiver.url, "event_types": ["case.opened"]}).status_code == 422


def test_creating_twice_with_one_idempotency_key_makes_one_subscription(notifications, make_receiver, agency):
    api = notifications()
    receiver = make_receiver()
    headers = {"Idempotency-Key": "create-1"}
    token = partner(agency, "org-a")  # a replay goes only to the same caller (subject and organization)
    first = api.post("/v1/subscriptions", token=token, json={"url": receiver.url}, headers=headers)
    second = api.post("/v1/subscriptions", token=token, json={"url": receiver.url}, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert len(api.get("/v1/subscriptions", token=partner(agency, "org-a")).json()) == 1


def test_ping_is_signed_and_during_rotation_both_secrets_verify(notifications, make_receiver, agency):
    api = notifications()
    receiver = make_receiver()
    token = partner(agency, "org-a")
    created = api.post("/v1/subscriptions", token=token, json={"url": receiver.url}).json()
    ping = api.post(f"/v1/subscriptions/{created['id']}/ping", token=token)
    assert ping.status_code == 200 and ping.json()["outcome"] == "delivered", ping.text
    Webhook(created["secret"]).verify(receiver.requests[0].body, receiver.requests[0].headers)

    missing = api.post(f"/v1/subscriptions/{created['id']}/secret-rotation", token=token)
    assert missing.status_code == 428
    stale = api.post(f"/v1/subscriptions/{created['id']}/secret-rotation", token=token,
                     headers={"If-Match": f'"{created["id"]}.99"'})
    assert stale.status_code == 412
    etag = api.get(f"/v1/subscriptions/{created['id']}", token=token).headers["ETag"]
    rotated = api.post(f"/v1/subscriptions/{created['id']}/secret-rotation", token=token, headers={"If-Match": etag})
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["secret"]
    assert new_secret != created["secret"] and rotated.json()["previous_secret_expires_at"]

    api.post(f"/v1/subscriptions/{created['id']}/ping", token=token)
    request = receiver.requests[-1]
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    Webhook(new_secret).verify(request.body, request.headers)
    Webhook(created["secret"]).verify(request.body, request.headers)


def test_disable_and_enable_need_the_current_etag_and_disabled_subscriptions_get_nothing(
    notifications, make_receiver, agency
):
    api = notifications()
    receiver = make_receiver()
    token = partner(agency, "org-a")
    created = api.post("/v1/subscriptions", token=token, json={"url": receiver.url})
    etag = created.headers["ETag"]
    disabled = api.post(f"/v1/subscriptions/{created.json()['id']}/disable", token=token, headers={"If-Match": etag})
    assert disabled.status_code == 200 and disabled.json()["status"] == "disabled"
    again = api.post(f"/v1/subscriptions/{created.json()['id']}/enable", token=token, headers={"If-Match": etag})
    assert again.status_code == 412  # the old ETag: someone changed it since
    ping = api.post(f"/v1/subscriptions/{created.json()['id']}/ping", token=token)
    assert ping.status_code == 409 and receiver.requests == []
    enabled = api.post(f"/v1/subscriptions/{created.json()['id']}/enable", token=token,
                       headers={"If-Match": disabled.headers["ETag"]})
    assert enabled.status_code == 200 and enabled.json()["status"] == "enabled"


def test_amqp_feed_subscription_ping_lands_in_the_partners_queue(notifications, agency):
    from kombu import Connection

    from services.notifications.channels.amqp_feed import partner_feed
    from tests.conftest import AMQP_URI

    api = notifications()
    org = f"org-{agency}"
    created = api.post("/v1/subscriptions", token=partner(agency, org), json={"channel": "amqp_feed"})
    assert created.status_code == 201, created.text
    assert created.json()["secret"] is None
    ping = api.post(f"/v1/subscriptions/{created.json()['id']}/ping", token=partner(agency, org))
    assert ping.json()["outcome"] == "delivered", ping.text
    feed = partner_feed(org, agency)
    with Connection(AMQP_URI) as connection:
        channel = connection.channel()
        try:
            message = channel.basic_get(feed.queue.name, no_ack=True)
        finally:
            channel.queue_delete(feed.queue.name)
            channel.exchange_delete(feed.exchange.name)
    assert message is not None
    body = message.body if isinstance(message.body, str) else message.body.decode()
    assert '"type":"org.diversion.notifications.subscription.ping"' in body


def test_another_partner_with_the_same_idempotency_key_gets_422_and_never_the_signing_secret(
        notifications, make_receiver, agency):
    api = notifications()
    receiver = make_receiver()
    headers = {"Idempotency-Key": "shared-key"}
    mine = api.post("/v1/subscriptions", token=partner(agency, "org-a"), json={"url": receiver.url}, headers=headers)
    assert mine.status_code == 201
    theirs = api.post("/v1/subscriptions", token=partner(agency, "org-b"), json={"url": receiver.url},
                      headers=headers)
    assert theirs.status_code == 422 and theirs.json()["type"].endswith("/idempotency-key-reused")
    assert mine.json()["secret"] not in theirs.text and mine.json()["id"] not in theirs.text
    assert api.get("/v1/subscriptions", token=partner(agency, "org-b")).json() == []
