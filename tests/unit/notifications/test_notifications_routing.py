"""Who gets what: partner event filters, reminder channel choice, what the delivery log shows of people."""

from __future__ import annotations

import pytest

from services.notifications.domain.routing import (
    UnknownEventType,
    choose_reminder_channel,
    is_rejection,
    mask_recipient,
    normalize_event_filters,
    subscription_wants,
)


def test_full_and_short_event_types_name_the_same_filter():
    assert normalize_event_filters([
        "org.diversion.resources.service_referral.escalated", "service_referral.requested",
        "service_referral.requested",
    ]) == ["service_referral.requested", "service_referral.escalated"]


@pytest.mark.parametrize("name", ["case.opened", "org.diversion.intake.referral.accepted", ""])
def test_partners_cannot_subscribe_to_case_or_intake_events(name):
    with pytest.raises(UnknownEventType):
        normalize_event_filters([name])


def test_an_empty_filter_means_every_partner_event():
    assert subscription_wants([], "service_referral.escalated")
    assert not subscription_wants(["service_referral.requested"], "service_referral.escalated")


def test_only_a_rejection_tells_the_staff():
    assert is_rejection("rejected") and not is_rejection("accepted") and not is_rejection("completed")


@pytest.mark.parametrize(("preferred", "phone", "email", "expected"), [
    (None, "+13145550100", "a@example.org", "sms"),
    ("email", "+13145550100", "a@example.org", "email"),
    ("email", "+13145550100", None, "sms"),  # the chosen channel is not reachable: the other one
    (None, None, "a@example.org", "email"),
    ("none", "+13145550100", "a@example.org", None),
    (None, None, None, None),
])
def test_reminder_channel_follows_the_participants_choice_when_reachable(preferred, phone, email, expected):
    assert choose_reminder_channel(preferred, phone, email) == expected


def test_the_delivery_log_masks_phone_numbers_and_email_addresses_but_not_webhook_urls():
    assert mask_recipient("sms", "+13145550142") == "********0142"
    assert mask_recipient("email", "ana.diaz@example.org") == "a***@example.org"
    assert mask_recipient("webhook", "https://partner.example.org/hooks") == "https://partner.example.org/hooks"

