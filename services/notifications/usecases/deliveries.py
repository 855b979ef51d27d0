"""The delivery log: list, read, attempts, replays (a partner sees its organization's, an admin the agency's).

Sealed deliveries (ADR 0083) are absent for them: 404 and left out of lists; a records officer naming a
RSMo 610.120 code in X-Legal-Basis reads them (and lists them too), and each opening is audited by the caller."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.notifications.domain.subscriptions import check_replayable
from services.notifications.models import Delivery, DeliveryAttempt, Subscription
from services.notifications.schemas import DeliveryQuery
from services.notifications.usecases.sealing import guard, list_basis
from services.notifications.usecases.subscriptions import org_scope
from shared.http import Call, NotFound
from shared.http.pagination import paginate
from shared.records import is_sealed, sealed_ids, unsealed
from shared.sealing import RECORDS_OFFICER


def _scope(call: Call) -> str | None:
    assert call.identity is not None
    return None if RECORDS_OFFICER in call.identity.roles else org_scope(call)


def _found(session: Session, call: Call, delivery_id: str, lock: bool = False) -> Delivery:
    statement = select(Delivery).where(Delivery.agency_id == call.agency, Delivery.id == delivery_id)
    org = _scope(call)
    if org is not None:
        statement = statement.where(Delivery.org_id == org)
    if lock:
        statement = statement.with_for_update()
    row = session.scalars(statement).first()
    if row is None:
        raise NotFound(f"no delivery {delivery_id}")
    return row


def load(session: Session, call: Call, delivery_id: str, lock: bool = False) -> Delivery:
    """The delivery to change (replay): a sealed one is absent for everyone."""
    row = _found(session, call, delivery_id, lock)
    if is_sealed(session, call.agency, "delivery", row.id):
        raise NotFound(f"no delivery {delivery_id}")
    return row


def read(session: Session, call: Call, delivery_id: str) -> tuple[Delivery, str | None]:
    """The delivery to show, and the legal basis a records officer opened it under when it is sealed."""
    row = _found(session, call, delivery_id)
    return row, guard(session, call, "delivery", row.id, f"no delivery {delivery_id}")


def list_deliveries(session: Session, call: Call, query: DeliveryQuery
                    ) -> tuple[list[Delivery], str | None, str | None, set[str]]:
    """Newest first, filtered by status, channel, purpose, subscription or trigger event; sealed ones only
    for a records officer naming a legal basis (then also the basis and the sealed ids shown)."""
    statement = select(Delivery).where(Delivery.agency_id == call.agency)
    org = _scope(call)
    if org is not None:
        statement = statement.where(Delivery.org_id == org)
    basis = list_basis(call)
    if basis is None:
        statement = statement.where(unsealed(Delivery.id, call.agency, "delivery"))
    for column in ("status", "channel", "purpose", "subscription_id", "trigger_event_id"):
        value = getattr(query, column)
        if value is not None:
            statement = statement.where(getattr(Delivery, column) == value)
    rows, cursor = paginate(session, call, statement, order=(Delivery.created_at.desc(), Delivery.id.desc()),
                            key=lambda row: (row.created_at, row.id))
    opened = sealed_ids(session, call.agency, "delivery", [row.id for row in rows]) if basis else set()
    return rows, cursor, basis, opened


def attempts(session: Session, call: Call, delivery_id: str
             ) -> tuple[Delivery, list[DeliveryAttempt], str | None]:
    delivery, basis = read(session, call, delivery_id)
    rows = session.scalars(select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == delivery.id)
                           .order_by(DeliveryAttempt.attempt_number, DeliveryAttempt.id).limit(1000)).all()
    return delivery, list(rows), basis


def replay(session: Session, call: Call, delivery_id: str, now: dt.datetime) -> Delivery:
    """Put a failed or cancelled delivery back in the queue: same id, a fresh retry schedule."""
    row = load(session, call, delivery_id, lock=True)
    subscription = session.get(Subscription, row.subscription_id) if row.subscription_id else None
    check_replayable(row.status, bool(row.subscription_id), subscription.status if subscription else None)
    row.status, row.next_attempt_at, row.round_attempts, row.lease_until = "pending", now, 0, None
    row.updated_at, row.version = now, row.version + 1
    return row
