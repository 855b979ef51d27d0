"""Webhook signatures checked with the Standard Webhooks reference library (`standardwebhooks`)."""

from __future__ import annotations

import base64
import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from services.notifications.channels.signing import (
    InvalidSecret,
    generate_secret,
    secret_key,
    webhook_headers,
)

BODY = '{"type":"org.diversion.resources.service_referral.requested","data":{"id":"sr_1"}}'


def test_generated_secret_has_the_whsec_form_and_enough_randomness() -> None:
    secret = generate_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret[6:])) == 32
    assert generate_secret() != secret


def test_reference_library_verifies_our_signature() -> None:
    secret = generate_secret()
    headers = webhook_headers([secret], "msg_1", int(time.time()), BODY)
    assert Webhook(secret).verify(BODY, headers)["data"]["id"] == "sr_1"


def test_tampered_body_fails_verification() -> None:
    secret = generate_secret()
    headers = webhook_headers([secret], "msg_1", int(time.time()), BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY.replace("sr_1", "sr_2"), headers)


def test_six_minute_old_timestamp_fails_verification() -> None:
    secret = generate_secret()
    headers = webhook_headers([secret], "msg_1", int(time.time()) - 6 * 60, BODY)
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(secret).verify(BODY, headers)


def test_during_rotation_both_signatures_are_sent_and_each_verifies() -> None:
    old, new = generate_secret(), generate_secret()
    headers = webhook_headers([new, old], "msg_1", int(time.time()), BODY)
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert all(value.startswith("v1,") for value in headers["webhook-signature"].split(" "))
    Webhook(old).verify(BODY, headers)
    Webhook(new).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(generate_secret()).verify(BODY, headers)


@pytest.mark.parametrize("secret", ["abc", "whsec_***", "whsec_" + base64.b64encode(b"short").decode()])
def test_malformed_secrets_are_refused(secret: str) -> None:
    with pytest.raises(InvalidSecret):
        secret_key(secret)


def test_a_webhook_needs_at_least_one_secret() -> None:
    with pytest.raises(InvalidSecret, match="at least one"):
        webhook_headers([], "msg_1", 0, BODY)
