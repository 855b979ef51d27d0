"""`reliable_handler`: an event entrypoint with an inbox, bounded retries and a dead-letter queue.

Delivery semantics: **ack after commit**. The entrypoint commits the worker's `Database` session (the
handler's effect plus an inbox row `(consumer, source, event id)`) and only then acks. A crash before
the ack redelivers the event; the inbox row makes the second run a no-op (the unique key rejects it).
A handler that raises is rolled back, retried after a growing delay, and after `delivery_limit`
attempts dead-lettered to `diversion.<service>.dlq` with the error in its headers; the quorum queue's
own `x-delivery-limit` dead-letters a message that keeps killing the process. Handlers must not
publish directly: they `record()` events in the same session so the effect and its events commit
together. The handler may call `self.db.commit()` itself; the inbox row joins that transaction.
"""

from __future__ import annotations

import json
import logging
import traceback
from datetime import UTC, datetime
from functools import partial
from typing import Any

import eventlet
from kombu import Connection
from kombu.pools import producers
from kombu.serialization import register as register_serializer
from nameko.containers import WorkerContext
from nameko.exceptions import ContainerBeingKilled
from nameko.messaging import Consumer, QueueConsumer
from sqlalchemy import event as sa_event
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared.messaging.catalog import EventData, EventSpec, spec_for_model
from shared.messaging.envelope import CloudEvent, InvalidEvent, parse_event
from shared.messaging.metrics import count_duplicate, count_handler_failure, register_service_metrics
from shared.messaging.outbox import CLOUDEVENTS_CONTENT_TYPE, CONTEXT_KEYS
from shared.messaging.service import EngineSource, amqp_uri_of, delivery_limit_of, find_database
from shared.messaging.tables import TABLES
from shared.messaging.topology import (
    declare_consumer_topology,
    declare_publisher_topology,
    dlx_name,
    events_exchange,
    handler_queue_name,
    quorum_arguments,
)

log = logging.getLogger(__name__)

_INBOX_KEY = "diversion_inbox_event"
ERROR_HEADERS = (
    "x-diversion-error",
    "x-diversion-error-type",
    "x-diversion-attempts",
    "x-diversion-dead-lettered-at",
    "x-diversion-original-queue",
    "x-diversion-original-exchange",
    "x-diversion-original-routing-key",
)


def _register_cloudevents_serializer() -> None:
    register_serializer(
        "cloudevents", json.dumps, json.loads, content_type=CLOUDEVENTS_CONTENT_TYPE, content_encoding="utf-8"
    )


class ReliableQueueConsumer(QueueConsumer):
    """nameko's queue consumer on its own connection, accepting structured-mode CloudEvents."""

    @property
    def accept(self) -> list[str]:
        return [*self.container.accept, CLOUDEVENTS_CONTENT_TYPE]


class ReliableEventHandler(Consumer):
    """Entrypoint: `@reliable_handler(ReferralAccepted)` calls the method with the validated `CloudEvent`."""

    queue_consumer = ReliableQueueConsumer()

    def __init__(
        self,
        model: type[EventData],
        source: str | None = None,
        *,
        retry_delay: float = 0.2,
        max_retry_delay: float = 5.0,
        **kwargs: Any,
    ) -> None:
        self.model = model
        self.spec: EventSpec = spec_for_model(model)
        self.source_service = source or self.spec.service
        self.retry_delay = retry_delay
        self.max_retry_delay = max_retry_delay
        super().__init__(queue=None, requeue_on_error=True, **kwargs)

    # -- lifecycle ------------------------------------------------------------------------------

    def setup(self) -> None:
        _register_cloudevents_serializer()
        service = self.container.service_name
        self.service = service
        self.consumer_name = f"{service}.{self.method_name}"
        self.delivery_limit = delivery_limit_of(self.container)
        self.amqp_uri = amqp_uri_of(self.container)
        self.queue_name = handler_queue_name(service, self.source_service, self.spec, self.method_name)
        from kombu import Queue

        self.queue = Queue(
            self.queue_name,
            exchange=events_exchange(self.source_service),
            routing_key=self.spec.type,
            durable=True,
            queue_arguments=quorum_arguments(service, self.delivery_limit),
        )
        with Connection(self.amqp_uri, connect_timeout=5) as connection:
            declare_consumer_topology(connection, service)
            declare_publisher_topology(connection, self.source_service)
            self.queue.declare(channel=connection.default_channel)
        self.engines = EngineSource(self.container)
        super().setup()

    def start(self) -> None:
        self.database = find_database(self.container)
        self.engine = self.engines.engine()
        if self.database is not None:
            sa_event.listen(self.database.sessionmaker, "before_commit", self._before_commit)
        register_service_metrics(self.service, self.engine, self.amqp_uri)

    def stop(self) -> None:
        super().stop()
        self._forget_listener()
        self.engines.dispose()

    def kill(self) -> None:
        self._forget_listener()
        self.engines.dispose()

    def _forget_listener(self) -> None:
        database = getattr(self, "database", None)
        if database is not None and sa_event.contains(database.sessionmaker, "before_commit", self._before_commit):
            sa_event.remove(database.sessionmaker, "before_commit", self._before_commit)

    # -- inbox ----------------------------------------------------------------------------------

    def _inbox_key(self, event: CloudEvent) -> dict[str, str]:
        return {"consumer": self.consumer_name, "source": event.source, "event_id": event.id}

    def _add_inbox_row(self, session: Session, event: CloudEvent) -> None:
        if session.info.get(_INBOX_KEY) == event.id:
            return
        session.execute(
            insert(TABLES.inbox).values(**self._inbox_key(event), event_type=event.type, handled_at=datetime.now(UTC))
        )
        session.info[_INBOX_KEY] = event.id

    def _before_commit(self, session: Session) -> None:
        # The handler committed on its own: the inbox row must be in that same transaction.
        assert self.database is not None
        for worker_ctx, worker_session in list(self.database.sessions.items()):
            if worker_session is session and worker_ctx.entrypoint is self:
                self._add_inbox_row(session, worker_ctx.args[0])
                return

    def already_handled(self, event: CloudEvent) -> bool:
        inbox = TABLES.inbox
        key = self._inbox_key(event)
        with self.engine.connect() as connection:
            found = connection.execute(
                select(inbox.c.event_id).where(
                    inbox.c.consumer == key["consumer"],
                    inbox.c.source == key["source"],
                    inbox.c.event_id == key["event_id"],
                )
            ).first()
        return found is not None

    # -- messages -------------------------------------------------------------------------------

    def handle_message(self, body: Any, message: Any) -> None:
        try:
            event = parse_event(body)
        except InvalidEvent as exc:
            log.error("%s: dead-lettering an invalid event: %s", self.consumer_name, exc)
            self._dead_letter(message, exc, attempts=1)
            return
        try:
            if self.already_handled(event):
                log.info("%s: event %s already handled; acked", self.consumer_name, event.id)
                count_duplicate(self.service, self.method_name)
                self._settle(message, ack=True)
                return
        except Exception:  # noqa: BLE001 - the database is down: let the broker redeliver later
            log.warning("%s: inbox unavailable; requeueing", self.consumer_name, exc_info=True)
            eventlet.sleep(self.retry_delay)
            self._settle(message, ack=False)
            return
        headers = self.unpack_message_headers(message)
        context = {key: headers[key] for key in CONTEXT_KEYS if headers.get(key) is not None}
        context["agency"] = event.tenantid
        if event.traceparent:
            context["traceparent"] = event.traceparent
        try:
            self.container.spawn_worker(
                self, (event,), {}, context_data=context, handle_result=partial(self._handle_result, message)
            )
        except ContainerBeingKilled:
            self._settle(message, ack=False)

    def _settle(self, message: Any, ack: bool) -> None:
        """Ack or requeue; if the connection is gone the broker redelivers the message by itself."""
        try:
            if ack:
                self.queue_consumer.ack_message(message)
            else:
                self.queue_consumer.requeue_message(message)
        except Exception as exc:  # noqa: BLE001 - a dead socket must not kill the container
            log.warning(
                "%s: could not %s a message (%s: %s); the broker will redeliver it",
                getattr(self, "consumer_name", "?"),
                "ack" if ack else "requeue",
                type(exc).__name__,
                exc,
            )

    def _worker_session(self, worker_ctx: WorkerContext) -> tuple[Session, bool]:
        if self.database is not None:
            session = self.database.sessions.get(worker_ctx)
            if session is not None:
                return session, False
        return Session(self.engine, expire_on_commit=False), True

    def _handle_result(
        self, message: Any, worker_ctx: WorkerContext, result: Any = None, exc_info: Any = None
    ) -> tuple[Any, Any]:
        event: CloudEvent = worker_ctx.args[0]
        session, own = self._worker_session(worker_ctx)
        error: BaseException | None = exc_info[1] if exc_info else None
        try:
            if error is None:
                try:
                    self._add_inbox_row(session, event)
                    session.commit()
                except Exception as exc:  # noqa: BLE001 - decided below: duplicate or failure
                    session.rollback()
                    error = exc
        finally:
            if own:
                session.close()
        if error is None:
            self._settle(message, ack=True)
            return result, exc_info
        if error is not None and exc_info is None:
            exc_info = (type(error), error, error.__traceback__)
        session.rollback()
        if isinstance(error, IntegrityError) or error is not None:
            try:
                if self.already_handled(event):
                    log.info("%s: event %s was handled concurrently; acked", self.consumer_name, event.id)
                    count_duplicate(self.service, self.method_name)
                    self._settle(message, ack=True)
                    return None, None
            except Exception:  # noqa: BLE001 - cannot tell: treat as a failure and retry
                log.warning("%s: inbox check failed", self.consumer_name, exc_info=True)
        self._failed(message, event, error)
        return result, exc_info

    def _failed(self, message: Any, event: CloudEvent, error: BaseException) -> None:
        count_handler_failure(self.service, self.method_name)
        attempts = int(message.headers.get("x-delivery-count") or 0) + 1
        if attempts >= self.delivery_limit:
            log.error("%s: event %s failed %d times; dead-lettered: %r", self.consumer_name, event.id, attempts, error)
            self._dead_letter(message, error, attempts)
            return
        delay = min(self.retry_delay * 2 ** (attempts - 1), self.max_retry_delay)
        log.warning(
            "%s: event %s failed (attempt %d of %d), retrying in %.2fs: %r",
            self.consumer_name,
            event.id,
            attempts,
            self.delivery_limit,
            delay,
            error,
        )
        eventlet.sleep(delay)
        self._settle(message, ack=False)

    def _dead_letter(self, message: Any, error: BaseException, attempts: int) -> None:
        """Publish (with a confirm) a copy carrying the error to the dead-letter exchange, then ack."""
        headers = {k: v for k, v in (message.headers or {}).items() if not k.startswith("x-diversion-")}
        summary = "".join(traceback.format_exception_only(type(error), error)).strip()
        headers.update(
            {
                "x-diversion-error": summary[:2000],
                "x-diversion-error-type": type(error).__name__,
                "x-diversion-attempts": attempts,
                "x-diversion-dead-lettered-at": datetime.now(UTC).isoformat(),
                "x-diversion-original-queue": self.queue_name,
                "x-diversion-original-exchange": message.delivery_info.get("exchange", ""),
                "x-diversion-original-routing-key": message.delivery_info.get("routing_key", ""),
            }
        )
        connection = Connection(self.amqp_uri, transport_options={"confirm_publish": True})
        try:
            with producers[connection].acquire(block=True, timeout=10) as producer:
                producer.publish(
                    message.body,
                    exchange=dlx_name(self.service),
                    routing_key=self.queue_name,
                    headers=headers,
                    content_type=message.content_type,
                    content_encoding=message.content_encoding or "utf-8",
                    delivery_mode=2,
                    message_id=message.properties.get("message_id"),
                    retry=True,
                    retry_policy={"max_retries": 3},
                )
        except Exception:  # noqa: BLE001 - not parked: leave it to redelivery and the broker's limit
            log.exception("%s: could not dead-letter; requeueing", self.consumer_name)
            eventlet.sleep(self.retry_delay)
            self._settle(message, ack=False)
            return
        self._settle(message, ack=True)


reliable_handler = ReliableEventHandler.decorator
