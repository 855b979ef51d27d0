"""The delivery log: list, read, attempts, replays (a partner sees its organization's, an admin the agency's)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.notifications.domain.subscriptions import check_replayable
from services.notifications.models import Delivery, DeliveryAttempt, Subscription
from services.notifications.schemas import DeliveryQuery
from services.notifications.usecases.subscriptions import org_scope
from shared.http import Call, NotFound
from shared.http.pagination import paginate


def load(session: Session, call: Call, delivery_id: str, lock: bool = False) -> Delivery:
    statement = select(Delivery).where(Delivery.agency_id == call.agency, Delivery.id == delivery_id)
    org = org_scope(call)
    if org is not None:
        statement = statement.where(Delivery.org_id == org)
    if lock:
        statement = statement.with_for_update()
    row = session.scalars(statement).first()
    if row is None:
        raise NotFound(f"no delivery {delivery_id}")
    return row


def list_deliveries(session: Session, call: Call, query: DeliveryQuery) -> tuple[list[Delivery], str | None]:
    """Newest first, filtered by status, channel, purpose, subscription or trigger event."""
    statement = select(Delivery).where(Delivery.agency_id == call.agency)
    org = org_scope(call)
    if org is not None:
        statement = statement.where(Delivery.org_id == org)
    for column in ("status", "channel", "purpose", "subscription_id", "trigger_event_id"):
        value = getattr(query, column)
        if value is not None:
            statement = statement.where(getattr(Delivery, column) == value)
    return paginate(session, call, statement, order=(Delivery.created_at.desc(), Delivery.id.desc()),
                    key=lambda row: (row.created_at, row.id))


def attempts(session: Session, call: Call, delivery_id: str) -> tuple[Delivery, list[DeliveryAttempt]]:
    delivery = load(session, call, delivery_id)
    rows = session.scalars(select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == delivery.id)
                           .order_by(DeliveryAttempt.attempt_number, DeliveryAttempt.id).limit(1000)).all()
    return delivery, list(rows)


def replay(session: Session, call: Call, delivery_id: str, now: dt.datetime) -> Delivery:
    """Put a failed or cancelled delivery back in the queue: same id, a fresh retry schedule."""
    row = load(session, call, delivery_id, lock=True)
    subscription = session.get(Subscription, row.subscription_id) if row.subscription_id else None
    check_replayable(row.status, bool(row.subscription_id), subscription.status if subscription else None)
    row.status, row.next_attempt_at, row.round_attempts, row.lease_until = "pending", now, 0, None
    row.updated_at, row.version = now, row.version + 1
    return row
