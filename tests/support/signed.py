"""Messages a test publishes by hand, signed the way a suite service signs them (ADR 0011).

The key is the test process's deployment key (`DIVERSION_MESSAGE_SIGNING_KEY`, set by tests/conftest.py for
every service the tests start), so the services accept these messages as their own relays' and callers'.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from kombu import Connection, Exchange, Queue

from shared.config import CommonSettings
from shared.messaging import signing
from shared.messaging.envelope import CloudEvent

RPC_EXCHANGE = Exchange("nameko-rpc", type="topic", durable=True)


def key() -> bytes:
    return signing.signing_key(CommonSettings())


def event_headers(event: CloudEvent, headers: Mapping[str, Any] | None = None, *, signer: str | None = None,
                  key_bytes: bytes | None = None) -> dict[str, Any]:
    """Identity headers (`nameko.agency` from the event unless given) with their signature."""
    base = {"nameko.agency": event.tenantid, **(headers or {})}
    return signing.sign_event(base, signer=signer or event.source, message_id=event.id, body=event.to_bytes(),
                              key=key_bytes or key())


def rpc_headers(payload: Any, correlation_id: str, context: Mapping[str, Any], *, signer: str = "test",
                key_bytes: bytes | None = None) -> dict[str, Any]:
    headers = {f"nameko.{name}": value for name, value in context.items()}
    headers.update(signing.signature_headers(headers, signer=signer, message_id=correlation_id,
                                             digest=signing.payload_digest(payload), key=key_bytes or key()))
    return headers


class RemoteFailure(Exception):
    def __init__(self, error: dict[str, Any]):
        super().__init__(f"{error.get('exc_type')}: {error.get('value')}")
        self.exc_type = error.get("exc_type")


def rpc_call(amqp_uri: str, service: str, method: str, args: list[Any], context: Mapping[str, Any], *,
             timeout: float = 15.0, reply_queue: str | None = None,
             sign: Callable[[Any, str], dict[str, Any]] | None = None) -> Any:
    """Call `service.method(*args)` as a suite service would: signed identity (or the headers `sign` makes), a reply
    queue of its own; the result, or `RemoteFailure` with the callee's exception type."""
    payload = {"args": list(args), "kwargs": {}}
    correlation_id = str(uuid.uuid4())
    reply_key = str(uuid.uuid4())
    with Connection(amqp_uri) as connection:
        channel = connection.channel()
        replies = Queue(reply_queue or f"test-reply-{reply_key}", exchange=RPC_EXCHANGE, routing_key=reply_key,
                        exclusive=True, auto_delete=True)
        replies(channel).declare()
        answers: list[Any] = []
        with connection.Consumer(replies, callbacks=[lambda body, message: (answers.append(body), message.ack())],
                                 accept=["json"]):
            connection.Producer(channel).publish(
                payload, exchange=RPC_EXCHANGE, routing_key=f"{service}.{method}", serializer="json",
                reply_to=reply_key, correlation_id=correlation_id,
                headers=(sign or (lambda p, c: rpc_headers(p, c, context)))(payload, correlation_id),
            )
            while not answers:
                try:
                    connection.drain_events(timeout=timeout)
                except TimeoutError:
                    raise TimeoutError(f"no reply from {service}.{method} in {timeout}s") from None
    answer = answers[0] if isinstance(answers[0], dict) else json.loads(answers[0])
    if answer.get("error"):
        raise RemoteFailure(answer["error"])
    return answer.get("result")
