"""Dead-letter queue operations: list, show, replay (back onto the original queue) and purge."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from amqp import Message

from shared.messaging.topology import dlq_name

_ERROR_PREFIX = "x-diversion-"


@dataclass(frozen=True)
class DeadLetter:
    event_id: str | None
    event_type: str | None
    original_queue: str | None
    error: str | None
    attempts: int | None
    dead_lettered_at: str | None
    headers: dict[str, Any]
    body: bytes

    def as_dict(self, with_body: bool = False) -> dict[str, Any]:
        item: dict[str, Any] = {
            "event_id": self.event_id,
            "type": self.event_type,
            "original_queue": self.original_queue,
            "error": self.error,
            "attempts": self.attempts,
            "dead_lettered_at": self.dead_lettered_at,
        }
        if with_body:
            item["headers"] = {k: _plain(v) for k, v in self.headers.items()}
            try:
                item["event"] = json.loads(self.body)
            except ValueError:
                item["body"] = self.body.decode(errors="replace")
        return item


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value if isinstance(value, str | int | float | bool | type(None)) else str(value)


def _original_queue(headers: dict[str, Any]) -> str | None:
    if headers.get("x-diversion-original-queue"):
        return str(headers["x-diversion-original-queue"])
    # Dead-lettered by the broker itself (delivery limit reached while the consumer kept dying).
    if headers.get("x-first-death-queue"):
        return str(_plain(headers["x-first-death-queue"]))
    deaths = headers.get("x-death") or []
    return str(_plain(deaths[0].get("queue"))) if deaths else None


def _dead_letter(message: Any) -> DeadLetter:
    headers = dict(message.headers or {})
    body = message.body if isinstance(message.body, bytes) else str(message.body).encode()
    event_type = None
    try:
        event_type = json.loads(body).get("type")
    except (ValueError, AttributeError):
        pass
    reason = headers.get("x-diversion-error")
    if reason is None and headers.get("x-first-death-reason"):
        reason = f"broker: {_plain(headers['x-first-death-reason'])}"
    attempts = headers.get("x-diversion-attempts")
    return DeadLetter(
        event_id=message.properties.get("message_id"),
        event_type=event_type,
        original_queue=_original_queue(headers),
        error=_plain(reason) if reason is not None else None,
        attempts=int(attempts) if attempts is not None else None,
        dead_lettered_at=_plain(headers.get("x-diversion-dead-lettered-at")),
        headers=headers,
        body=body,
    )


@contextmanager
def _channel(amqp_uri: str) -> Iterator[Any]:
    from kombu import Connection

    with Connection(amqp_uri, connect_timeout=5) as connection:
        connection.connect()
        channel = connection.channel()
        try:
            yield channel
        finally:
            # Anything fetched and not acked goes back to the queue when the channel closes.
            channel.close()


def _fetch(channel: Any, queue: str, limit: int) -> list[Any]:
    messages: list[Any] = []
    while len(messages) < limit:
        message = channel.basic_get(queue, no_ack=False)
        if message is None:
            break
        messages.append(message)
    return messages


def list_dead_letters(amqp_uri: str, service: str, limit: int = 100) -> list[DeadLetter]:
    with _channel(amqp_uri) as channel:
        return [_dead_letter(m) for m in _fetch(channel, dlq_name(service), limit)]


def show_dead_letter(amqp_uri: str, service: str, event_id: str, limit: int = 10_000) -> DeadLetter | None:
    with _channel(amqp_uri) as channel:
        for raw in _fetch(channel, dlq_name(service), limit):
            letter = _dead_letter(raw)
            if letter.event_id == event_id:
                return letter
    return None


Refusal = Callable[[DeadLetter], str | None]


def identifiers(letter: DeadLetter) -> tuple[str | None, dict[str, str]]:
    """The agency (`tenantid`) and the person's identifiers an event carries (referral, case, participant)."""
    try:
        event = json.loads(letter.body)
    except ValueError:
        return None, {}
    if not isinstance(event, dict):
        return None, {}
    data: dict[str, Any] = event["data"] if isinstance(event.get("data"), dict) else {}
    found = {kind: str(data[f"{kind}_id"]) for kind in ("referral", "case", "participant")
             if isinstance(data.get(f"{kind}_id"), str | int) and data.get(f"{kind}_id") != ""}
    tenant = event.get("tenantid")
    return (str(tenant) if tenant else None), found


def replay_dead_letters(
    amqp_uri: str, service: str, event_ids: set[str] | None = None, limit: int = 10_000,
    refuse: Refusal | None = None, refused: dict[str, str] | None = None,
) -> list[str]:
    """Put dead letters (all, or those with `event_ids`) back on their original queue; return their ids.

    Each is published with a confirm before it is acked off the DLQ, so a crash can only duplicate
    (absorbed by the inbox), never lose. A letter `refuse` gives a reason for (an event about an erased
    person) stays in the dead-letter queue; its id and the reason go into `refused`.
    """
    replayed: list[str] = []
    with _channel(amqp_uri) as channel:
        channel.confirm_select()
        for raw in _fetch(channel, dlq_name(service), limit):
            letter = _dead_letter(raw)
            if event_ids is not None and letter.event_id not in event_ids:
                continue
            if not letter.original_queue:
                continue
            reason = refuse(letter) if refuse is not None else None
            if reason is not None:
                if refused is not None:
                    refused[letter.event_id or ""] = reason
                continue  # not acked: it goes back to the dead-letter queue when the channel closes
            headers = {
                k: v
                for k, v in letter.headers.items()
                if not k.startswith(_ERROR_PREFIX)
                and not k.startswith("x-death")
                and not k.startswith("x-first-death")
                and not k.startswith("x-last-death")
                and k != "x-delivery-count"
            }
            headers["x-diversion-replayed"] = int(letter.headers.get("x-diversion-replayed", 0)) + 1
            props = {
                k: raw.properties[k]
                for k in ("content_type", "content_encoding", "message_id")
                if raw.properties.get(k) is not None
            }
            message = Message(letter.body, delivery_mode=2, application_headers=headers, **props)
            channel.basic_publish_confirm(message, exchange="", routing_key=letter.original_queue, mandatory=True)
            channel.basic_ack(raw.delivery_tag)
            replayed.append(letter.event_id or "")
    return replayed


def purge_dead_letters(amqp_uri: str, service: str) -> int:
    with _channel(amqp_uri) as channel:
        return int(channel.queue_purge(dlq_name(service)) or 0)
