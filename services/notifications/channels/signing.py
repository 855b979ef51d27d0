"""Standard Webhooks signatures: secrets `whsec_<base64>`, `v1,<base64 HMAC-SHA256(id.timestamp.body)>`."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets as _random
from collections.abc import Iterable

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32  # the spec asks for 24 to 64 random bytes


class InvalidSecret(ValueError):
    """A signing secret is not `whsec_` followed by base64 of 24 to 64 bytes."""


def generate_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(_random.token_bytes(SECRET_BYTES)).decode("ascii")


def secret_key(secret: str) -> bytes:
    if not secret.startswith(SECRET_PREFIX):
        raise InvalidSecret("webhook secrets start with 'whsec_'")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise InvalidSecret("webhook secret is not valid base64") from None
    if not 24 <= len(key) <= 64:
        raise InvalidSecret("webhook secret must encode 24 to 64 bytes")
    return key


def sign(secret: str, msg_id: str, timestamp: int, body: str | bytes) -> str:
    payload = body.encode("utf-8") if isinstance(body, str) else body
    to_sign = f"{msg_id}.{timestamp}.".encode() + payload
    digest = hmac.new(secret_key(secret), to_sign, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signature_header(secrets: Iterable[str], msg_id: str, timestamp: int, body: str | bytes) -> str:
    """`webhook-signature` value: one signature per secret, space separated (rotation sends two)."""
    values = [sign(secret, msg_id, timestamp, body) for secret in secrets]
    if not values:
        raise InvalidSecret("a webhook needs at least one signing secret")
    return " ".join(values)


def webhook_headers(secrets: Iterable[str], msg_id: str, timestamp: int, body: str | bytes) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(secrets, msg_id, timestamp, body),
    }
