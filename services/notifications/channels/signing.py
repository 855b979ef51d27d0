"""Standard Webhooks signatures, made and checked by the spec's reference library (`standardwebhooks`).

Secrets are `whsec_<base64 of 24 to 64 bytes>`; a signature is `v1,<base64 HMAC-SHA256(id.timestamp.body)>`.
During a secret rotation a delivery carries one signature per secret, space separated, so a receiver
holding either secret verifies it. Receivers (partners, `diversion demo`) verify with the same library.
"""

from __future__ import annotations

import base64
import binascii
import secrets as _random
from collections.abc import Iterable
from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32  # the spec asks for 24 to 64 random bytes

__all__ = [
    "InvalidSecret",
    "generate_secret",
    "secret_key",
    "sign",
    "signature_header",
    "webhook_headers",
]


class InvalidSecret(ValueError):
    """A signing secret is not `whsec_` followed by base64 of 24 to 64 bytes."""


def generate_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(_random.token_bytes(SECRET_BYTES)).decode("ascii")


def secret_key(secret: str) -> bytes:
    """The key bytes of a well-formed secret. Stricter than the library, which pads and decodes anything."""
    if not secret.startswith(SECRET_PREFIX):
        raise InvalidSecret("webhook secrets start with 'whsec_'")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise InvalidSecret("webhook secret is not valid base64") from None
    if not 24 <= len(key) <= 64:
        raise InvalidSecret("webhook secret must encode 24 to 64 bytes")
    return key


def _text(body: str | bytes) -> str:
    return body.decode("utf-8") if isinstance(body, bytes) else body


def sign(secret: str, msg_id: str, timestamp: int, body: str | bytes) -> str:
    """`v1,<signature>` of one delivery with one secret."""
    return Webhook(secret_key(secret)).sign(msg_id, datetime.fromtimestamp(timestamp, UTC), _text(body))


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

