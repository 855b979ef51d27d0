"""AMQP partner feed: each partner organization reads its own durable quorum queue.

Topology per agency (tenant): a topic exchange `agency.<agency>.partner_feed`; per partner a
quorum queue `partner.<org_id>.feed` bound with `partner.<org_id>.#`, so only events addressed
to that partner reach it. Events are published with routing key `partner.<org_id>.<event type>`
and publisher confirms; delivery counts only after the broker's ack. A feed the partner stops reading is
bounded (shared/messaging/bounds.py, ADR 0085): past its length or age the oldest events go to
`diversion.notifications.dropped`, whose drain audits the counts for the agency.
"""

from __future__ import annotations

import contextlib
import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from amqp.exceptions import AMQPError
from kombu import Connection, Exchange, Producer, Queue
from kombu.exceptions import KombuError

from services.notifications.channels.base import AttemptResult, AttemptStatus, Message
from services.notifications.channels.settings import channel_settings_of
from shared.messaging.bounds import FEED_OWNER, Bounds, declare_bounded, declare_dropped, queue_arguments

if TYPE_CHECKING:
    from shared.config import Settings

# Dots, '*' and '#' are routing-key syntax: an org id "a.b" would let partner "a" read b's feed.
_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,100}$")


class InvalidFeedName(ValueError):
    """An organization id or agency slug cannot be used in queue names and routing keys."""


@dataclass(frozen=True)
class PartnerFeed:
    exchange: Exchange
    queue: Queue
    binding_key: str


def _safe(value: str, what: str) -> str:
    if not _SAFE_ID.match(value):
        raise InvalidFeedName(f"{what} {value!r} may only contain letters, digits, '-' and '_'")
    return value


def feed_exchange(agency: str) -> Exchange:
    return Exchange(f"agency.{_safe(agency, 'agency')}.partner_feed", type="topic", durable=True)


def feed_routing_key(org_id: str, event_type: str | None) -> str:
    suffix = (event_type or "event").strip(".")
    if not suffix or "#" in suffix or "*" in suffix:
        raise InvalidFeedName(f"event type {event_type!r} cannot be a routing key suffix")
    return f"partner.{_safe(org_id, 'organization id')}.{suffix}"


def partner_feed(org_id: str, agency: str, bounds: Bounds | None = None) -> PartnerFeed:
    exchange = feed_exchange(agency)
    binding_key = f"partner.{_safe(org_id, 'organization id')}.#"
    queue = Queue(
        f"partner.{org_id}.feed",
        exchange=exchange,
        routing_key=binding_key,
        durable=True,
        queue_arguments=queue_arguments("partner_feed", FEED_OWNER, bounds),
    )
    return PartnerFeed(exchange=exchange, queue=queue, binding_key=binding_key)


def ensure_partner_feed(connection: Connection, org_id: str, agency: str,
                        bounds: Bounds | None = None) -> PartnerFeed:
    """Declare (idempotently) the agency's exchange, the partner's bounded queue and its binding."""
    feed = partner_feed(org_id, agency, bounds)
    declare_dropped(connection, FEED_OWNER, bounds)  # where the bound sends what it drops
    declare_bounded(connection, feed.queue)  # the exchange, the queue and its binding
    return feed


class AmqpFeedChannel:
    """Publishes to a partner's feed. `message.recipient` is the org id, `message.tenant` the agency."""

    name = "amqp_feed"

    def __init__(self, amqp_uri: str, confirm_timeout_seconds: float = 10.0, bounds: Bounds | None = None) -> None:
        self.amqp_uri = amqp_uri
        self.bounds = bounds
        self.confirm_timeout_seconds = confirm_timeout_seconds
        self._connection: Connection | None = None
        self._declared: set[tuple[str, str]] = set()
        # One AMQP channel is not safe to share between concurrent workers (greenlets or threads).
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> AmqpFeedChannel:
        own = channel_settings_of(settings)
        return cls(settings.common.amqp_uri, own.feed_confirm_timeout_seconds, Bounds.from_settings(settings.common))

    def _connect(self) -> Connection:
        if self._connection is None or not self._connection.connected:
            self._connection = Connection(self.amqp_uri, transport_options={"confirm_publish": True})
            self._connection.ensure_connection(max_retries=1)
            self._declared.clear()
        return self._connection

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.release()
                self._connection = None

    def send(self, message: Message) -> AttemptResult:
        if not message.tenant:
            return AttemptResult(AttemptStatus.FAILED, error="an AMQP feed message needs the agency (tenant)")
        try:
            routing_key = feed_routing_key(message.recipient, message.event_type)
            exchange = feed_exchange(message.tenant)
        except InvalidFeedName as exc:
            return AttemptResult(AttemptStatus.FAILED, error=str(exc))
        returned: list[Any] = []
        with self._lock:
            try:
                connection = self._connect()
                key = (message.tenant, message.recipient)
                if key not in self._declared:
                    # Declaring before publishing means an event cannot vanish for lack of a queue.
                    ensure_partner_feed(connection, message.recipient, message.tenant, self.bounds)
                    self._declared.add(key)
                producer = Producer(
                    connection.default_channel,
                    exchange=exchange,
                    on_return=lambda exc, *rest: returned.append(exc),
                )
                producer.publish(
                    message.body,
                    routing_key=routing_key,
                    content_type="application/cloudevents+json",
                    content_encoding="utf-8",
                    delivery_mode=2,
                    mandatory=True,
                    message_id=message.id,
                    type=message.event_type,
                    headers=dict(message.headers),
                    timeout=self.confirm_timeout_seconds,
                    confirm_timeout=self.confirm_timeout_seconds,
                    retry=False,
                )
            except (OSError, AMQPError, KombuError) as exc:
                self._reset()
                return AttemptResult(
                    AttemptStatus.RETRY, error=f"broker publish failed: {type(exc).__name__}"
                )
        if returned:
            self._declared.discard((message.tenant, message.recipient))
            return AttemptResult(AttemptStatus.RETRY, error="broker returned the message as unroutable")
        return AttemptResult(AttemptStatus.DELIVERED)

    def _reset(self) -> None:
        if self._connection is not None:
            # The connection is already broken; we only drop it.
            with contextlib.suppress(Exception):
                self._connection.release()
            self._connection = None
