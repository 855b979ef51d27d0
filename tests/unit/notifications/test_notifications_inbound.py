"""Inbound SMS verification: the provider's signature (Twilio's published test vector) or a shared secret."""

from __future__ import annotations

import pytest

from services.notifications.inbound import InboundNotVerified, twilio_signature, verify_inbound

# From twilio-python's own tests (tests/unit/test_request_validator.py).
URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
PARAMS = {"CallSid": "CA1234567890ABCDE", "Digits": "1234", "From": "+14158675309", "To": "+18005551212",
          "Caller": "+14158675309"}


def test_signature_matches_the_providers_published_example():
    assert twilio_signature("12345", URL, PARAMS.items()) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def test_a_correctly_signed_request_is_accepted_and_a_changed_one_refused():
    signed = {"X-Twilio-Signature": "RSOYDt4T1cUTdK1PDd93/VVr8B8="}
    assert verify_inbound(signed, list(PARAMS.items()), shared_secret=None, auth_token="12345",
                          public_url=URL) == "signature"
    with pytest.raises(InboundNotVerified):
        verify_inbound(signed, [*PARAMS.items(), ("Body", "STOP")], shared_secret=None, auth_token="12345",
                       public_url=URL)


def test_shared_secret_header_must_match_exactly():
    assert verify_inbound({"x-diversion-inbound-secret": "s3cret"}, [], shared_secret="s3cret", auth_token=None,
                          public_url=None) == "shared_secret"
    with pytest.raises(InboundNotVerified):
        verify_inbound({"X-Diversion-Inbound-Secret": "guess"}, [], shared_secret="s3cret", auth_token=None,
                       public_url=None)


def test_without_any_verification_configured_everything_is_refused():
    with pytest.raises(InboundNotVerified, match="not configured"):
        verify_inbound({"X-Twilio-Signature": "x"}, [], shared_secret=None, auth_token="t", public_url=None)
