"""Inbound SMS webhooks: the route's entrypoint (it hands the request headers on), and verifying them by a
shared-secret header or the provider's (Twilio-style) signature.

Twilio signs `url + concat(sorted(key + value))` with HMAC-SHA1 under the account's auth token and
sends it base64 in `X-Twilio-Signature`. The URL must be the public one the provider called, so it is
configured (`DIVERSION_NOTIFICATIONS_SMS_INBOUND_URL`) rather than guessed behind proxies.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from typing import Any

from werkzeug.wrappers import Request

from shared.http.api import ApiEntrypoint, Call

SECRET_HEADER = "X-Diversion-Inbound-Secret"
SIGNATURE_HEADER = "X-Twilio-Signature"


class InboundNotVerified(Exception):
    """An inbound SMS request carries neither a valid shared secret nor a valid provider signature."""


def twilio_signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    payload = url + "".join(key + value for key, value in sorted(params))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_inbound(
    headers: dict[str, str],
    params: list[tuple[str, str]],
    *,
    shared_secret: str | None,
    auth_token: str | None,
    public_url: str | None,
) -> str:
    """How the request proved itself ('shared_secret' or 'signature'); raises InboundNotVerified."""
    lowered = {key.lower(): value for key, value in headers.items()}
    given_secret = lowered.get(SECRET_HEADER.lower())
    if shared_secret and given_secret is not None:
        if hmac.compare_digest(given_secret.encode(), shared_secret.encode()):
            return "shared_secret"
        raise InboundNotVerified("the inbound secret does not match")
    given_signature = lowered.get(SIGNATURE_HEADER.lower())
    if auth_token and public_url and given_signature:
        expected = twilio_signature(auth_token, public_url, params)
        if hmac.compare_digest(given_signature.encode(), expected.encode()):
            return "signature"
        raise InboundNotVerified("the provider signature does not match")
    if not shared_secret and not (auth_token and public_url):
        raise InboundNotVerified("inbound SMS verification is not configured")
    raise InboundNotVerified("send the shared secret header or the provider signature")


@dataclass(frozen=True)
class HeaderCall(Call):
    """A `Call` that also carries the request headers (the inbound SMS route verifies them)."""

    headers: dict[str, str] = field(default_factory=dict)


class HeaderApiEntrypoint(ApiEntrypoint):
    def _parse(self, request: Request, identity: Any, request_id: str, traceparent: str) -> Call:
        call = super()._parse(request, identity, request_id, traceparent)
        values = {item.name: getattr(call, item.name) for item in fields(Call)}
        return HeaderCall(**values, headers={key: value for key, value in request.headers.items()})


api_with_headers = HeaderApiEntrypoint.decorator
