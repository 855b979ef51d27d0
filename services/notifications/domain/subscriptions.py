"""Who may subscribe what: the organization a subscription belongs to, its target, and what it allows now.

A partner subscribes only its own organization; an agency admin names the organization, or subscribes the
agency's own system (`audience=agency`: a webhook, no organization, org_id `AGENCY_ORG`). A webhook needs
a URL; an AMQP feed has none. Only an enabled subscription is pinged, only a webhook is signed.
"""

from __future__ import annotations

from typing import Any

AGENCY_ORG = "agency"  # org_id of the agency's own subscriptions (no partner organization)


class SubscriptionRefused(Exception):
    """The caller may not subscribe this (403)."""


class InvalidSubscription(ValueError):
    """The subscription asked for is not one that can exist (422, with the field at fault)."""

    def __init__(self, detail: str, field: str, message: str, kind: str) -> None:
        self.problem_extra: dict[str, Any] = {"errors": [{"field": field, "message": message, "type": kind}]}
        super().__init__(detail)


class NotNow(Exception):
    """Not allowed in the subscription's or delivery's present state (409)."""


def subscription_org(audience: str, channel: str, scope: str | None, requested: str | None,
                     identity_org: str | None) -> str:
    """The org_id a new subscription belongs to. `scope`: None for an agency admin, else the partner's org."""
    if audience == "agency":
        # The agency's own system: its prosecution record, never a partner's to ask for.
        if scope is not None:
            raise SubscriptionRefused("only an admin of the agency subscribes the agency's own system")
        if channel != "webhook" or requested:
            raise InvalidSubscription("an agency subscription is a webhook of the agency itself",
                                      "channel" if channel != "webhook" else "organization_id",
                                      "agency subscriptions are webhooks with no organization", "value_error")
        return AGENCY_ORG
    if scope is None:
        org = requested or identity_org
        if not org:
            raise InvalidSubscription("an admin names the organization", "organization_id", "required for admins",
                                      "missing")
        if org == AGENCY_ORG:
            raise InvalidSubscription(f"{AGENCY_ORG!r} names the agency itself; use audience=agency",
                                      "organization_id", "reserved", "value_error")
        return org
    if requested not in (None, scope):
        raise SubscriptionRefused("a partner can subscribe only its own organization")
    return scope


def check_target(channel: str, url: str | None) -> None:
    """A webhook needs a URL; an AMQP feed has none (it is the organization's own exchange)."""
    if channel == "webhook" and not url:
        raise InvalidSubscription("a webhook subscription needs a URL", "url", "required for the webhook channel",
                                  "missing")
    if channel != "webhook" and url:
        raise InvalidSubscription("an AMQP feed subscription has no URL", "url", "must be empty for amqp_feed",
                                  "extra")


def check_pingable(status: str) -> None:
    if status != "enabled":
        raise NotNow("the subscription is disabled; enable it first")


def check_signed(channel: str) -> None:
    if channel != "webhook":
        raise NotNow("only webhook subscriptions are signed")


def check_replayable(status: str, has_subscription: bool, subscription_status: str | None) -> None:
    """Only a failed or cancelled delivery is sent again, and only through an enabled subscription."""
    if status == "withheld":
        raise NotNow("this delivery was withheld: no consent covered it when it was to be sent (ADR 0070); "
                     "it is never replayed")
    if status not in ("failed", "cancelled"):
        raise NotNow(f"only failed or cancelled deliveries are replayed; this one is {status}")
    if has_subscription and subscription_status != "enabled":
        raise NotNow("the subscription is disabled; enable it before replaying")
