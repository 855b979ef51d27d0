"""SMS channel: the Twilio-format adapter against a real local HTTP server standing in for the provider.

The provider itself is outside this system and cannot run here; the local server checks the
request format (path, form fields, basic auth) and plays its documented answers.
"""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs

from services.notifications.channels import AttemptStatus, Message
from services.notifications.channels.sms import SmsChannel, TwilioSmsProvider

from .conftest import Receiver


def sms_channel(receiver: Receiver) -> SmsChannel:
    provider = TwilioSmsProvider(
        account_sid="AC0123456789",
        auth_token="secret-token",
        from_number="(314) 555-0100",
        base_url=receiver.url + "/",
        timeout_seconds=2,
    )
    return SmsChannel(provider)


def test_sms_is_posted_in_the_provider_format_with_e164_numbers(receiver: Receiver) -> None:
    receiver.reply = lambda request: (201, {"content-type": "application/json"}, b'{"sid": "SM1"}')
    result = sms_channel(receiver).send(Message(id="s1", recipient="(314) 555-0142", body="Hola Ana"))
    assert result.status is AttemptStatus.DELIVERED and result.status_code == 201

    [request] = receiver.requests
    assert request.path == "/2010-04-01/Accounts/AC0123456789/Messages.json"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    expected_auth = base64.b64encode(b"AC0123456789:secret-token").decode()
    assert request.headers["authorization"] == f"Basic {expected_auth}"
    form = parse_qs(request.body.decode())
    assert form == {"From": ["+13145550100"], "To": ["+13145550142"], "Body": ["Hola Ana"]}


def test_invalid_number_fails_without_calling_the_provider(receiver: Receiver) -> None:
    result = sms_channel(receiver).send(Message(id="s1", recipient="555-0142", body="x"))
    assert result.status is AttemptStatus.FAILED and "valid phone number" in (result.error or "")
    assert "555" not in (result.error or "")  # the number stays out of the attempt log
    assert receiver.requests == []


def test_recipient_who_replied_stop_is_gone(receiver: Receiver) -> None:
    body = json.dumps({"code": 21610, "message": "Attempt to send to unsubscribed recipient"}).encode()
    receiver.reply = lambda request: (400, {"content-type": "application/json"}, body)
    result = sms_channel(receiver).send(Message(id="s1", recipient="3145550142", body="x"))
    assert result.status is AttemptStatus.GONE


def test_rate_limited_provider_asks_for_a_retry_with_its_delay(receiver: Receiver) -> None:
    receiver.reply = lambda request: (429, {"retry-after": "30"}, b"")
    result = sms_channel(receiver).send(Message(id="s1", recipient="3145550142", body="x"))
    assert result.status is AttemptStatus.RETRY and result.retry_after_seconds == 30


def test_provider_rejection_is_a_failure(receiver: Receiver) -> None:
    receiver.reply = lambda request: (400, {}, json.dumps({"code": 21211}).encode())
    result = sms_channel(receiver).send(Message(id="s1", recipient="3145550142", body="x"))
    assert result.status is AttemptStatus.FAILED and "21211" in (result.error or "")
