"""notifications: events into signed webhooks, partner feeds, emails and SMS, with a delivery log."""

from __future__ import annotations

from sqlalchemy import select

from services.notifications.models import Subscription
from services.notifications.schemas import SubscriptionOut
from shared.db import Database
from shared.http import Call, Forbidden, api
from shared.service import ServiceBase


class NotificationsService(ServiceBase):
    """Partner subscriptions, staff and participant notifications, and the delivery log."""

    name = "notifications"
    db = Database()

    @api("GET", "/v1/subscriptions", roles={"partner", "admin"}, response=list[SubscriptionOut],
         tags=["subscriptions"], summary="Subscriptions: a partner sees its own organization's, an admin all")
    def list_subscriptions(self, call: Call) -> list[SubscriptionOut]:
        assert call.identity is not None
        statement = select(Subscription).where(Subscription.agency_id == call.agency)
        if "admin" not in call.identity.roles:
            if not call.identity.org:
                raise Forbidden("a partner token must name its organization (claim org)")
            statement = statement.where(Subscription.org_id == call.identity.org)
        rows = self.db.scalars(statement.order_by(Subscription.created_at, Subscription.id)).all()
        return [SubscriptionOut.model_validate(row) for row in rows]
