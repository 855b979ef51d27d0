"""Partners' and the agency's subscriptions: create (the secret shown once), read, ping, rotate, enable, disable."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.notifications.channels.amqp_feed import InvalidFeedName, feed_routing_key
from services.notifications.channels.base import Message
from services.notifications.channels.signing import generate_secret
from services.notifications.domain.routing import normalize_event_filters
from services.notifications.domain.subscriptions import (
    check_pingable,
    check_signed,
    check_target,
    subscription_org,
)
from services.notifications.models import Subscription
from services.notifications.schemas import SubscriptionCreate
from services.notifications.usecases.dispatch import Job, signing_secrets
from services.notifications.usecases.fanout import new_delivery, new_id
from shared.http import Call, Conflict, Forbidden, NotFound, UnprocessableContent
from shared.http.concurrency import etag, require_if_match
from shared.messaging.envelope import source_of

PING_TYPE = "org.diversion.notifications.subscription.ping"


def org_scope(call: Call) -> str | None:
    """None for an admin (whole agency); the partner's own organization otherwise."""
    assert call.identity is not None
    if "admin" in call.identity.roles:
        return None
    if not call.identity.org:
        raise Forbidden("a partner token must name its organization (claim org)")
    return call.identity.org


def load(session: Session, call: Call, subscription_id: str, lock: bool = False) -> Subscription:
    statement = select(Subscription).where(Subscription.agency_id == call.agency, Subscription.id == subscription_id)
    org = org_scope(call)
    if org is not None:
        statement = statement.where(Subscription.org_id == org, Subscription.audience == "partner")
    if lock:
        statement = statement.with_for_update()
    row = session.scalars(statement).first()
    if row is None:
        raise NotFound(f"no subscription {subscription_id}")
    return row


def create(session: Session, call: Call, body: SubscriptionCreate, channels: dict[str, Any],
           now: dt.datetime) -> tuple[Subscription, str | None]:
    """A new enabled subscription and its signing secret (webhooks only; None for a feed)."""
    org = subscription_org(body.audience, body.channel, org_scope(call), body.organization_id,
                           call.identity.org if call.identity else None)
    event_types = normalize_event_filters(body.event_types, body.audience)
    check_target(body.channel, body.url)
    secret: str | None = None
    if body.channel == "webhook":
        webhook = channels.get("webhook")
        if webhook is None or not hasattr(webhook, "check_target"):
            raise Conflict("the webhook channel is not available on this deployment")
        webhook.check_target(body.url)
        secret = generate_secret()
    else:
        try:
            feed_routing_key(org, None)
        except InvalidFeedName as exc:
            raise UnprocessableContent(str(exc)) from None
    row = Subscription(
        id=new_id("sub"), agency_id=call.agency, org_id=org, audience=body.audience, channel=body.channel,
        url=body.url, event_types=event_types, status="enabled", created_at=now, updated_at=now,
        description=body.description, secret=secret, version=1,
    )
    session.add(row)
    session.flush()
    return row, secret


def list_visible(session: Session, call: Call) -> list[Subscription]:
    """A partner's own organization's subscriptions; an admin's whole agency's."""
    statement = select(Subscription).where(Subscription.agency_id == call.agency)
    org = org_scope(call)
    if org is not None:
        statement = statement.where(Subscription.org_id == org, Subscription.audience == "partner")
    return list(session.scalars(statement.order_by(Subscription.created_at, Subscription.id).limit(500)).all())


def ping(session: Session, call: Call, subscription_id: str, now: dt.datetime, lease: dt.timedelta,
         instance_id: str) -> Job:
    """Record a test delivery already claimed by this instance; the caller commits, then sends the job."""
    row = load(session, call, subscription_id)
    check_pingable(row.status)
    delivery_id = new_id("dlv")
    body = json.dumps({
        "specversion": "1.0", "id": delivery_id, "source": source_of("notifications"), "type": PING_TYPE,
        "subject": row.id, "time": now.isoformat(), "datacontenttype": "application/json",
        "data": {"subscription_id": row.id, "message": "test ping from the diversion notifications service"},
    }, separators=(",", ":"))
    recipient = row.url if row.channel == "webhook" else row.org_id
    assert recipient is not None
    delivery = new_delivery(
        agency=call.agency, channel=row.channel, purpose="ping", recipient=recipient,
        target_key=f"ping:{delivery_id}", trigger_id=f"ping:{delivery_id}", trigger_type=PING_TYPE,
        body=body, now=now, subscription_id=row.id, org_id=row.org_id,
    )
    delivery.id = delivery_id
    delivery.status, delivery.attempts, delivery.round_attempts = "sending", 1, 1
    delivery.next_attempt_at = None
    delivery.lease_until = now + lease
    delivery.claimed_by = instance_id
    session.add(delivery)
    message = Message(id=delivery_id, recipient=recipient, body=body, tenant=call.agency, event_type=PING_TYPE,
                      secrets=signing_secrets(row, now) if row.channel == "webhook" else ())
    return Job(delivery_id=delivery_id, agency=call.agency, channel=row.channel, attempt=1, round_attempt=1,
               subscription_id=row.id, trigger_event_id=delivery.trigger_event_id,
               trigger_event_type=PING_TYPE, message=message)


def rotate_secret(session: Session, call: Call, subscription_id: str, now: dt.datetime,
                  grace: dt.timedelta) -> Subscription:
    """A new signing secret; the previous one stays valid (both signatures are sent) for `grace`."""
    row = load(session, call, subscription_id, lock=True)
    require_if_match(call, etag(row.id, row.version))
    check_signed(row.channel)
    row.previous_secret, row.previous_secret_expires_at = row.secret, now + grace
    row.secret = generate_secret()
    row.version, row.updated_at = row.version + 1, now
    return row


def set_status(session: Session, call: Call, subscription_id: str, status: str,
               now: dt.datetime) -> tuple[Subscription, bool]:
    """Enable or disable; whether anything changed."""
    row = load(session, call, subscription_id, lock=True)
    require_if_match(call, etag(row.id, row.version))
    if row.status == status:
        return row, False
    row.status = status
    row.disabled_reason = "disabled through the API" if status == "disabled" else None
    row.version, row.updated_at = row.version + 1, now
    return row, True
