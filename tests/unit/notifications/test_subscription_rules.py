"""Rules that lived in the entrypoints: whose a subscription is, its target, and what it allows now."""

from __future__ import annotations

import pytest

from services.notifications.domain.subscriptions import (
    AGENCY_ORG,
    InvalidSubscription,
    NotNow,
    SubscriptionRefused,
    check_pingable,
    check_replayable,
    check_signed,
    check_target,
    subscription_org,
)

ADMIN = None  # an agency admin's scope: the whole agency


def test_a_partner_subscribes_its_own_organization_and_no_other() -> None:
    assert subscription_org("partner", "webhook", "org-a", None, "org-a") == "org-a"
    assert subscription_org("partner", "amqp_feed", "org-a", "org-a", "org-a") == "org-a"
    with pytest.raises(SubscriptionRefused, match="only its own organization"):
        subscription_org("partner", "webhook", "org-a", "org-b", "org-a")


def test_an_admin_names_the_organization_but_not_the_agency_itself() -> None:
    assert subscription_org("partner", "webhook", ADMIN, "org-b", None) == "org-b"
    assert subscription_org("partner", "webhook", ADMIN, None, "org-c") == "org-c"
    with pytest.raises(InvalidSubscription) as missing:
        subscription_org("partner", "webhook", ADMIN, None, None)
    assert missing.value.problem_extra["errors"] == [
        {"field": "organization_id", "message": "required for admins", "type": "missing"}]
    with pytest.raises(InvalidSubscription, match="names the agency itself"):
        subscription_org("partner", "webhook", ADMIN, AGENCY_ORG, None)


def test_only_an_admin_subscribes_the_agencys_own_system_with_a_webhook_and_no_organization() -> None:
    assert subscription_org("agency", "webhook", ADMIN, None, None) == AGENCY_ORG
    with pytest.raises(SubscriptionRefused):
        subscription_org("agency", "webhook", "org-a", None, "org-a")
    with pytest.raises(InvalidSubscription) as feed:
        subscription_org("agency", "amqp_feed", ADMIN, None, None)
    assert feed.value.problem_extra["errors"][0]["field"] == "channel"
    with pytest.raises(InvalidSubscription) as named:
        subscription_org("agency", "webhook", ADMIN, "org-a", None)
    assert named.value.problem_extra["errors"][0]["field"] == "organization_id"


def test_a_webhook_needs_a_url_and_a_feed_has_none() -> None:
    check_target("webhook", "https://partner.example/hook")
    check_target("amqp_feed", None)
    with pytest.raises(InvalidSubscription, match="needs a URL"):
        check_target("webhook", None)
    with pytest.raises(InvalidSubscription, match="has no URL"):
        check_target("amqp_feed", "https://partner.example/hook")


def test_only_an_enabled_subscription_is_pinged_and_only_a_webhook_is_signed() -> None:
    check_pingable("enabled")
    with pytest.raises(NotNow, match="enable it first"):
        check_pingable("disabled")
    check_signed("webhook")
    with pytest.raises(NotNow, match="only webhook subscriptions are signed"):
        check_signed("amqp_feed")


@pytest.mark.parametrize("status", ["failed", "cancelled"])
def test_a_failed_or_cancelled_delivery_is_replayed_through_an_enabled_subscription(status: str) -> None:
    check_replayable(status, True, "enabled")
    check_replayable(status, False, None)  # a reminder or staff email: no subscription
    with pytest.raises(NotNow, match="enable it before replaying"):
        check_replayable(status, True, "disabled")
    with pytest.raises(NotNow, match="enable it before replaying"):
        check_replayable(status, True, None)  # the subscription is gone


@pytest.mark.parametrize("status", ["pending", "sending", "delivered"])
def test_a_delivery_still_on_its_way_or_delivered_is_not_replayed(status: str) -> None:
    with pytest.raises(NotNow, match=f"this one is {status}"):
        check_replayable(status, False, None)
