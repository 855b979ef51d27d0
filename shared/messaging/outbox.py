"""Transactional outbox: `record()` writes an event row in the caller's transaction; the relay publishes it.

`record()` keeps the row with the session and writes every row of the transaction in one multi-row INSERT
just before it commits (or before an ORM flush, so a savepoint holds what was recorded before it); rows of
a transaction or savepoint that rolls back are dropped with it. `write_recorded()` writes them at once.

The relay claims pending rows (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so several relays may run),
publishes them in id order with publisher confirms, and marks a row sent only once the broker confirmed
it. A crash between confirm and mark republishes the event: delivery is at least once and consumers'
inboxes absorb the duplicate. Events of one subject are published in the order they were recorded.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from amqp import Message, spec
from kombu import Connection
from sqlalchemy import event as sa_event
from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from shared import tracing
from shared.brokers import connect
from shared.messaging.envelope import CloudEvent, service_of
from shared.messaging.frames import gathered
from shared.messaging.signing import sign_event
from shared.messaging.tables import TABLES
from shared.messaging.topology import declare_publisher_topology, events_exchange_name

log = logging.getLogger(__name__)

CLOUDEVENTS_CONTENT_TYPE = "application/cloudevents+json"
# Context keys that travel with an event as nameko-style `nameko.<key>` headers.
CONTEXT_KEYS = ("agency", "sub", "roles", "traceparent", "request_id")


def context_headers(context: Mapping[str, Any] | None) -> dict[str, Any]:
    if not context:
        return {}
    return {f"nameko.{key}": context[key] for key in CONTEXT_KEYS if context.get(key) is not None}


def record(
    session: Session,
    event: CloudEvent[Any],
    *,
    service: str | None = None,
    context: Mapping[str, Any] | None = None,
) -> None:
    """Add `event` to the outbox inside the caller's transaction; it is published after the commit.

    `service` names the publishing service's exchange (default: the service the event's `source` names); `context`
    (`sub`, `roles`, `request_id`...) travels as message headers so consumers know who acted.
    """
    publisher = service or service_of(event.source)
    exchange = events_exchange_name(publisher)
    if tracing.enabled():
        event = _traced(event, publisher, exchange)
    headers = context_headers(context)
    headers["nameko.agency"] = event.tenantid
    if event.traceparent:
        headers["nameko.traceparent"] = event.traceparent
    row = {
        "event_id": event.id,
        "event_type": event.type,
        "subject": event.subject,
        "exchange": exchange,
        "routing_key": event.type,
        "body": event.to_bytes().decode(),
        "headers": json.dumps(headers),
        "created_at": datetime.now(UTC),
        "attempts": 0,
    }
    if not session.info.get(_LISTENING):
        session.info[_LISTENING] = True
        sa_event.listen(session, "before_flush", _write_before_flush)
        sa_event.listen(session, "before_commit", write_recorded)
        sa_event.listen(session, "after_soft_rollback", _drop_rolled_back)
        sa_event.listen(session, "after_transaction_end", _drop_unwritten)
    # Tagged with the innermost transaction, so a savepoint's rollback drops only its own rows.
    transaction = session.get_nested_transaction() or session.get_transaction() or session.begin()
    session.info.setdefault(_RECORDED, []).append((transaction, row))


_RECORDED = "diversion_outbox_recorded"
_LISTENING = "diversion_outbox_listening"


def write_recorded(session: Session) -> None:
    """Write the rows `record()` kept, in order, as one multi-row INSERT in the session's transaction."""
    recorded = session.info.pop(_RECORDED, None)
    if recorded:
        session.execute(insert(TABLES.outbox), [row for _transaction, row in recorded])


def _write_before_flush(session: Session, flush_context: Any, instances: Any) -> None:
    write_recorded(session)


def _drop_rolled_back(session: Session, previous_transaction: Any) -> None:
    recorded = session.info.get(_RECORDED)
    if not recorded:
        return

    def inside(transaction: Any) -> bool:
        while transaction is not None:
            if transaction is previous_transaction:
                return True
            transaction = transaction.parent
        return False

    session.info[_RECORDED] = [(t, row) for t, row in recorded if not inside(t)]


def _drop_unwritten(session: Session, transaction: Any) -> None:
    """A transaction that ended without a commit (`close()`) takes its rows along, like a rollback."""
    if transaction.parent is None:
        _drop_rolled_back(session, transaction)


def _traced(event: CloudEvent[Any], publisher: str, exchange: str) -> CloudEvent[Any]:
    """The event under a `create` span of its own (a child of the traceparent it came with), which it carries."""
    span = tracing.start_span(
        publisher, f"create {event.type}", parent=event.traceparent, kind=tracing.SpanKind.PRODUCER,
        attributes={"messaging.system": "rabbitmq", "messaging.operation.type": "create",
                    "messaging.destination.name": exchange, "messaging.message.id": event.id,
                    "cloudevents.event_type": event.type, "cloudevents.event_source": event.source},
    )
    if span is None:
        return event
    tracing.end_span(span)
    return event.model_copy(update={"traceparent": tracing.traceparent_of(span)})


def outbox_backlog(engine: Engine) -> int:
    """Rows recorded but not yet confirmed by the broker."""
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).where(TABLES.outbox.c.sent_at.is_(None))).scalar_one())


@dataclass
class _Confirms:
    """Publisher-confirm bookkeeping for one batch on one channel."""

    pending: dict[int, int] = field(default_factory=dict)  # delivery tag -> outbox row id
    acked: set[int] = field(default_factory=set)
    failed: dict[int, str] = field(default_factory=dict)  # row id -> why
    returned: set[str] = field(default_factory=set)  # event ids the broker could not route

    def settle(self, tag: int, multiple: bool, ok: bool) -> None:
        tags = [t for t in self.pending if t <= tag] if multiple else [tag]
        for t in tags:
            row = self.pending.pop(t, None)
            if row is None:
                continue
            if ok:
                self.acked.add(row)
            else:
                self.failed[row] = "nacked by the broker"


class OutboxRelay:
    """Publishes pending outbox rows of one service database. Not tied to nameko: the bench and CLI use it."""

    def __init__(
        self,
        engine: Engine,
        amqp_uri: str,
        service: str,
        *,
        batch_size: int = 500,
        confirm_timeout: float = 10.0,
        signing_key: bytes | None = None,
    ) -> None:
        from shared.config import CommonSettings
        from shared.messaging.signing import signing_key as deployment_key

        # Identity headers are signed as they leave (ADR 0011); default: the key of the process environment.
        self.signing_key = signing_key or deployment_key(CommonSettings())
        self.engine = engine
        self.amqp_uri = amqp_uri
        self.service = service
        self.batch_size = batch_size
        self.confirm_timeout = confirm_timeout
        self._connection: Connection | None = None
        self._channel: Any = None
        self._confirms = _Confirms()
        self._declared: set[str] = set()
        self._next_tag = 0
        self._skip_locked = engine.dialect.name == "postgresql"

    # -- broker ---------------------------------------------------------------------------------

    def _channel_ready(self) -> Any:
        if self._channel is not None:
            return self._channel
        connection = connect(self.amqp_uri, timeout=5, heartbeat=0)  # the first node of a cluster that answers
        declare_publisher_topology(connection, self.service)
        channel = connection.channel()
        channel.confirm_select()
        channel.events["basic_ack"].add(lambda tag, multiple: self._confirms.settle(tag, multiple, True))
        channel.events["basic_nack"].add(lambda tag, multiple: self._confirms.settle(tag, multiple, False))
        channel.events["basic_return"].add(self._on_return)
        self._connection, self._channel, self._next_tag = connection, channel, 0
        self._declared = {self.service}
        return channel

    def _on_return(self, exc: Exception, exchange: str, routing_key: str, message: Any) -> None:
        event_id = message.properties.get("message_id")
        if event_id:
            self._confirms.returned.add(str(event_id))

    def close(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None:
            try:
                connection.release()
            except Exception:
                log.debug("closing a broken relay connection", exc_info=True)

    def _ensure_exchange(self, exchange: str) -> None:
        # Rows recorded by `record(service=...)` may name another publisher's exchange (CLIs, tests).
        owner = exchange.removeprefix("diversion.").removesuffix(".events")
        if owner not in self._declared and self._connection is not None:
            declare_publisher_topology(self._connection, owner)
            self._declared.add(owner)

    # -- one batch ------------------------------------------------------------------------------

    def _claim(self, session: Session) -> list[Any]:
        outbox = TABLES.outbox
        query = (
            select(outbox.c.id, outbox.c.event_id, outbox.c.subject, outbox.c.exchange, outbox.c.routing_key,
                   outbox.c.body, outbox.c.headers)
            .where(outbox.c.sent_at.is_(None))
            .order_by(outbox.c.id)
            .limit(self.batch_size)
        )
        if self._skip_locked:
            query = query.with_for_update(skip_locked=True)
        rows = list(session.execute(query))
        if not rows or not self._skip_locked:
            return rows
        # Another relay may hold an earlier row of the same subject: publish a subject's rows only
        # as an unbroken prefix of its pending rows, so per-subject order survives several relays.
        claimed = {row.id for row in rows}
        earlier = session.execute(
            select(outbox.c.id, outbox.c.subject)
            .where(
                outbox.c.sent_at.is_(None),
                outbox.c.subject.in_({row.subject for row in rows}),
                outbox.c.id <= max(claimed),
            )
            .order_by(outbox.c.id)
        )
        blocked: set[str] = set()
        allowed: set[int] = set()
        for row_id, subject in earlier:
            if subject in blocked:
                continue
            if row_id in claimed:
                allowed.add(row_id)
            else:
                blocked.add(subject)
        return [row for row in rows if row.id in allowed]

    def publish_batch(self) -> int:
        """Publish one batch of pending rows; return how many were confirmed and marked sent."""
        with Session(self.engine) as session, session.begin():
            rows = self._claim(session)
            if not rows:
                return 0
            channel = self._channel_ready()
            self._confirms = _Confirms()
            for exchange in {row.exchange for row in rows}:
                self._ensure_exchange(exchange)  # declares wait for answers: not inside the gathered writes
            spans: dict[int, Any] = {}
            with gathered(self._connection and self._connection.connection):
                for row in rows:
                    self._publish(channel, row, spans)
            try:
                self._wait_for_confirms()
                return self._mark(session, rows)
            finally:
                for row_id, span in spans.items():
                    tracing.end_span(span, self._confirms.failed.get(row_id) or (
                        "no publisher confirm" if row_id in self._confirms.pending.values() else None))

    def _publish(self, channel: Any, row: Any, spans: dict[int, Any]) -> None:
        self._next_tag += 1
        self._confirms.pending[self._next_tag] = row.id
        headers = json.loads(row.headers)
        if tracing.enabled():
            spans[row.id] = self._send_span(row, headers.get("nameko.traceparent"))
        signed = sign_event(headers, signer=self.service, message_id=row.event_id, body=row.body, key=self.signing_key)
        message = Message(row.body, content_type=CLOUDEVENTS_CONTENT_TYPE, content_encoding="utf-8", delivery_mode=2,
                          message_id=row.event_id, application_headers=signed)
        # What `basic_publish` sends, without the socket poll it makes before each message (for a
        # `connection.blocked` notice): the wait for the batch's confirms reads everything.
        channel.send_method(spec.Basic.Publish, "Bssbb", (0, row.exchange, row.routing_key, True, False),
                            message)

    def _send_span(self, row: Any, traceparent: str | None) -> Any:
        return tracing.start_span(
            self.service, f"send {row.exchange}", parent=traceparent, kind=tracing.SpanKind.CLIENT,
            attributes={"messaging.system": "rabbitmq", "messaging.operation.type": "send",
                        "messaging.destination.name": row.exchange, "messaging.rabbitmq.destination.routing_key":
                        row.routing_key, "messaging.message.id": row.event_id},
        )

    def _wait_for_confirms(self) -> None:
        assert self._connection is not None
        deadline = time.monotonic() + self.confirm_timeout
        while self._confirms.pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{len(self._confirms.pending)} publisher confirms missing")
            self._connection.drain_events(timeout=remaining)

    def _mark(self, session: Session, rows: list[Any]) -> int:
        outbox = TABLES.outbox
        by_id = {row.id: row for row in rows}
        for row_id in list(self._confirms.acked):
            if by_id[row_id].event_id in self._confirms.returned:
                self._confirms.acked.discard(row_id)
                self._confirms.failed[row_id] = "unroutable: no queue bound and no alternate exchange"
        now = datetime.now(UTC)
        if self._confirms.acked:
            session.execute(update(outbox).where(outbox.c.id.in_(self._confirms.acked)).values(sent_at=now))
        for row_id, why in self._confirms.failed.items():
            session.execute(
                update(outbox).where(outbox.c.id == row_id).values(attempts=outbox.c.attempts + 1, last_error=why)
            )
        if self._confirms.failed:
            log.warning(
                "outbox relay %s: %d events not confirmed, kept for retry on a new connection", self.service,
                len(self._confirms.failed),
            )
            # A channel can keep being nacked after a quorum queue's leader moved (seen in the cluster test,
            # RabbitMQ 3.10): the retry goes out on a new connection.
            self.close()
        return len(self._confirms.acked)

    def drain(self) -> int:
        """Publish until the outbox is empty (CLIs, tests); return how many were sent."""
        total = 0
        while sent := self.publish_batch():
            total += sent
        return total


class RelayLoop:
    """Runs a relay until stopped: woken by `wake()` after a commit, polling otherwise, reconnecting alone."""

    def __init__(self, relay: OutboxRelay, poll_interval: float = 1.0, max_backoff: float = 5.0) -> None:
        self.relay = relay
        self.poll_interval = poll_interval
        self.max_backoff = max_backoff
        self._wake = threading.Event()
        self._stopping = False

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    def run(self) -> None:
        backoff = 0.2
        while not self._stopping:
            self._wake.clear()
            try:
                sent = self.relay.publish_batch()
                backoff = 0.2
            except Exception as exc:  # noqa: BLE001 - broker or database down: reconnect after a pause
                log.warning(
                    "outbox relay %s: %s: %s; retrying in %.1fs", self.relay.service, type(exc).__name__, exc, backoff
                )
                self.relay.close()
                self._wake.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff)
                continue
            if sent == 0:
                self._wake.wait(self.poll_interval)
        self.relay.close()
