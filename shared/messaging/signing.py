"""Signed identity on the broker: who acted, and for which agency, cannot be forged by a broker login.

The tenant and identity of an event or an RPC call travel as `nameko.*` headers (and an event's tenant
in its body). Anyone who can publish on the broker could write those, so the sending service signs them:
HMAC-SHA256 with the deployment's message key over the sender, the message id, a digest of the body and
the identity headers. A consumer refuses a message whose signature is missing or wrong: an event is
dead-lettered, an RPC call answered with `IdentityRefused`. A partner's broker login (read-only on its
own feed) never holds the key. See ADR 0011.

Events are signed over their raw body bytes (the relay publishes the stored body unchanged); RPC calls
over the canonical JSON of their decoded payload (nameko serialises it after we see it). The headers'
names carry no `x-diversion-` prefix so a dead letter keeps them, and a replayed one is checked again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

from shared.auth import load_or_create_secret
from shared.config import CommonSettings

SIGNATURE_HEADER = "diversion-signature"
SIGNER_HEADER = "diversion-signer"
SIGNED_AT_HEADER = "diversion-signed-at"
# The identity context that is signed (traceparent and request id are not authority, so not signed).
IDENTITY_KEYS = ("agency", "sub", "roles", "org")
SCHEME = "v1"
# An RPC call signed longer ago than this is refused (a captured request replayed later).
RPC_MAX_AGE_SECONDS = 300.0


class IdentityRefused(Exception):
    """A message's identity headers are unsigned or do not match their signature."""


def signing_key(settings: CommonSettings) -> bytes:
    """The deployment's message key: `DIVERSION_MESSAGE_SIGNING_KEY`, else generated once in the data folder."""
    if settings.message_signing_key:
        return settings.message_signing_key.encode()
    return load_or_create_secret(settings.data_dir / "message-signing-key").encode()


def key_of(container: Any) -> bytes:
    """The key of a nameko container's settings (the process environment when it has none)."""
    from shared.messaging.service import settings_of

    settings = settings_of(container)
    return signing_key(settings.common if settings is not None else CommonSettings())


def _identity(headers: Mapping[str, Any]) -> dict[str, Any]:
    return {key: headers[f"nameko.{key}"] for key in IDENTITY_KEYS if headers.get(f"nameko.{key}") is not None}


def _mac(key: bytes, *, signer: str, message_id: str, digest: str, signed_at: str,
         identity: Mapping[str, Any]) -> str:
    material = json.dumps(
        {"v": SCHEME, "signer": signer, "message_id": message_id, "body_sha256": digest, "signed_at": signed_at,
         "identity": dict(identity)},
        sort_keys=True, separators=(",", ":"), default=str,
    ).encode()
    return f"{SCHEME}={hmac.new(key, material, hashlib.sha256).hexdigest()}"


def body_digest(body: bytes | str) -> str:
    return hashlib.sha256(body.encode() if isinstance(body, str) else body).hexdigest()


def payload_digest(payload: Any) -> str:
    return body_digest(json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str))


def signature_headers(headers: Mapping[str, Any], *, signer: str, message_id: str, digest: str,
                      key: bytes) -> dict[str, str]:
    """The headers to add to a message whose identity headers are `headers` (`nameko.*`)."""
    signed_at = f"{time.time():.3f}"
    return {
        SIGNER_HEADER: signer,
        SIGNED_AT_HEADER: signed_at,
        SIGNATURE_HEADER: _mac(key, signer=signer, message_id=message_id, digest=digest, signed_at=signed_at,
                               identity=_identity(headers)),
    }


def verify(headers: Mapping[str, Any] | None, *, message_id: str | None, digest: str, key: bytes,
           max_age: float | None = None) -> str:
    """The signer of a message whose signature matches; `IdentityRefused` otherwise."""
    headers = headers or {}
    signature, signer, signed_at = (headers.get(SIGNATURE_HEADER), headers.get(SIGNER_HEADER),
                                    headers.get(SIGNED_AT_HEADER))
    if not (isinstance(signature, str) and isinstance(signer, str) and isinstance(signed_at, str)):
        raise IdentityRefused("the message's identity is not signed")
    if not message_id:
        raise IdentityRefused("the message has no id to check its signature against")
    expected = _mac(key, signer=signer, message_id=message_id, digest=digest, signed_at=signed_at,
                    identity=_identity(headers))
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise IdentityRefused("the message's identity headers or body do not match their signature")
    if max_age is not None:
        try:
            age = time.time() - float(signed_at)
        except ValueError:
            raise IdentityRefused("the signature's time is not a number") from None
        if age > max_age:
            raise IdentityRefused(f"the message was signed {age:.0f} s ago; at most {max_age:.0f} s are accepted")
    return signer


def sign_event(headers: Mapping[str, Any], *, signer: str, message_id: str, body: bytes | str,
               key: bytes) -> dict[str, Any]:
    """An event's headers with its signature added (what the outbox relay publishes)."""
    return {**headers, **signature_headers(headers, signer=signer, message_id=message_id,
                                           digest=body_digest(body), key=key)}


def verify_event(message: Any, key: bytes) -> str:
    """Check a received event (a kombu message): its raw body, id and identity headers."""
    return verify(message.headers, message_id=message.properties.get("message_id"),
                  digest=body_digest(message.body), key=key)
