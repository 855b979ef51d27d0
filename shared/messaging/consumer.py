"""`reliable_handler`: an event entrypoint with an inbox, bounded retries and a dead-letter queue.

Delivery semantics: **ack after commit**. The entrypoint commits the handler's effect plus an inbox row
`(consumer, source, event id)` and only then acks. A crash before the ack redelivers the event; the
inbox row makes the second run a no-op (the unique key rejects it). A handler that raises is rolled
back, retried after a growing delay, and after `delivery_limit` attempts dead-lettered to
`diversion.<service>.dlq` with the error in its headers; the quorum queue's own `x-delivery-limit`
dead-letters a message that keeps killing the process. Handlers must not publish directly: they
`record()` events in the same session so the effect and its events commit together.

Two ways to apply events, same guarantees:

- **Batches** (`DIVERSION_CONSUMER_BATCH_SIZE` > 1, the default): the events at hand (up to the batch
  size) share one session and one transaction. One SELECT finds those already in the inbox (acked as
  duplicates); each handler then runs in order on the shared session (its own `commit()` only
  flushes); the inbox rows are inserted in one statement and the batch commits once; then every event
  of the batch is acked. If a handler raises, rolls back, or the commit fails (a duplicate that raced
  in, a constraint), the whole batch is rolled back and its events are applied **one by one** as below,
  so a poison event retries and dead-letters alone while the others still apply exactly once. An event
  that failed is remembered for a while and taken one by one straight away, so it does not sink the
  next batch too.
- **One by one** (batch size 1, and the fallback): a nameko worker per event with its own session; the
  inbox row is added at commit (or joins the handler's own `commit()`); a unique-key violation there
  means a duplicate (acked, not applied).

Over 400 lines on purpose: the two ways of applying events, the retry and dead-letter path and the
queue consumer they share are one delivery contract; split, a reader would have to hold three files to
check that an event is acked only after its effect commits.

Over 400 lines on purpose: the whole delivery contract of an event entrypoint (inbox, retries, dead letters,
batches, stop) in one module, so its guarantees are read and changed together.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

import eventlet
from eventlet.greenpool import GreenPool
from eventlet.queue import Empty, LightQueue
from kombu import Connection
from kombu.pools import producers
from kombu.serialization import register as register_serializer
from nameko.containers import WorkerContext
from nameko.exceptions import ContainerBeingKilled
from nameko.messaging import Consumer, QueueConsumer
from sqlalchemy import event as sa_event
from sqlalchemy import insert, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from shared import tracing
from shared.db import database_reachable, insert_for
from shared.messaging.catalog import EventData, EventSpec, spec_for_model
from shared.messaging.envelope import CloudEvent, InvalidEvent, parse_event
from shared.messaging.frames import gathered
from shared.messaging.metrics import (
    count_batch,
    count_duplicate,
    count_handler_failure,
    register_service_metrics,
)
from shared.messaging.outbox import CLOUDEVENTS_CONTENT_TYPE, CONTEXT_KEYS
from shared.messaging.service import (
    EngineSource,
    amqp_uri_of,
    consumer_batch_size_of,
    delivery_limit_of,
    find_database,
)
from shared.messaging.signing import IdentityRefused, key_of, verify_event
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
_STOP = object()
DATABASE_DOWN = object()  # a batch that could not reach the database: nothing applied, nothing settled
# Batches of one handler in flight at once: one applies while the next one fills.
BATCH_LANES = 2
# Event ids that failed recently, applied one by one when they come back (bounded memory).
SUSPECTS_KEPT = 10_000
ERROR_HEADERS = (
    "x-diversion-error",
    "x-diversion-error-type",
    "x-diversion-attempts",
    "x-diversion-dead-lettered-at",
    "x-diversion-original-queue",
    "x-diversion-original-exchange",
    "x-diversion-original-routing-key",
)


def _connection_of(message: Any) -> Any:
    return getattr(getattr(message, "channel", None), "connection", None)


def _register_cloudevents_serializer() -> None:
    register_serializer(
        "cloudevents", json.dumps, json.loads, content_type=CLOUDEVENTS_CONTENT_TYPE, content_encoding="utf-8"
    )


STARTING_WAIT_SECONDS = 15.0  # how long a stop waits for the queue consumer to finish starting


class ReliableQueueConsumer(QueueConsumer):  # type: ignore[misc]  # nameko's QueueConsumer is untyped
    """nameko's queue consumer on its own connection, accepting structured-mode CloudEvents."""

    @property
    def accept(self) -> list[str]:
        return [*self.container.accept, CLOUDEVENTS_CONTENT_TYPE]

    @property
    def prefetch_count(self) -> int:
        # Batching handlers need a batch per lane in hand; one-by-one handlers as many as workers.
        wanted = [getattr(provider, "prefetch", 0) for provider in self._providers]
        return int(max([self.container.max_workers, *wanted]))

    def unregister_provider(self, provider: Any) -> None:
        # nameko cannot remove a provider while this consumer is still starting: each provider stopping then
        # sends the same event again (the second raises) and the service's stop hangs until its timeout. A
        # SIGTERM right after start is ordinary (a rollout), so wait for the start to finish first; with the
        # broker gone it never does, the event is sent once and the stop timeout decides (ADR 0010).
        if not self._consumers_ready.ready():
            with eventlet.Timeout(STARTING_WAIT_SECONDS, False):
                self._consumers_ready.wait()
        if not self._consumers_ready.ready():
            if not self._last_provider_unregistered.ready():
                self._last_provider_unregistered.send()
            return
        super().unregister_provider(provider)

    def handle_message(self, provider: Any, body: Any, message: Any) -> None:
        # Queueing a message for a batch is quick and never blocks: done right here, without the
        # green thread nameko spawns per message. Everything else goes the usual way.
        if isinstance(provider, ReliableEventHandler):
            if not provider.identity_verified(message):
                return
            if provider.queue_for_batch(body, message):
                return
        super().handle_message(provider, body, message)


class BatchSession(Session):
    """The one session the handlers of a batch share.

    A handler's own `commit()` only flushes: its effect commits with the rest of the batch and the
    inbox rows, once, when the batch commits. A handler's `rollback()` or `close()` would throw away
    the other events' work as well, so it dooms the batch (which is then applied one by one).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.batch_open = True
        self.doomed = False

    def commit(self) -> None:
        if self.batch_open:
            self.flush()
            return
        super().commit()

    def rollback(self) -> None:
        if self.batch_open:
            self.doomed = True
        super().rollback()

    def close(self) -> None:
        if self.batch_open:
            self.doomed = True
        super().close()

    def commit_batch(self, inbox_rows: list[dict[str, Any]]) -> None:
        self.batch_open = False
        if inbox_rows:
            self.execute(insert(TABLES.inbox), inbox_rows)
        super().commit()


class ReliableEventHandler(Consumer):  # type: ignore[misc]  # nameko's Consumer is untyped
    """Entrypoint: `@reliable_handler(ReferralAccepted)` calls the method with the validated `CloudEvent`."""

    queue_consumer = ReliableQueueConsumer()

    def __init__(
        self,
        model: type[EventData],
        source: str | None = None,
        *,
        retry_delay: float = 0.2,
        max_retry_delay: float = 5.0,
        batch_size: int | None = None,
        **kwargs: Any,
    ) -> None:
        self.model = model
        self.spec: EventSpec = spec_for_model(model)
        self.source_service = source or self.spec.service
        self.retry_delay = retry_delay
        self.max_retry_delay = max_retry_delay
        self.batch_size_override = batch_size  # None: DIVERSION_CONSUMER_BATCH_SIZE
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
        self.signing_key = key_of(self.container)
        self.engines = EngineSource(self.container)
        self.database = find_database(self.container)
        # Batches share the service's Database session between handlers: without one, one by one.
        size = self.batch_size_override or consumer_batch_size_of(self.container)
        self.batch_size = size if self.database is not None else 1
        self.prefetch = self.batch_size * BATCH_LANES if self.batch_size > 1 else 0
        self._pending: LightQueue = LightQueue()
        self._lanes = GreenPool(BATCH_LANES)
        self._batcher: Any = None
        self._suspects: OrderedDict[str, None] = OrderedDict()
        self._stopping = False
        super().setup()

    def start(self) -> None:
        self.engine = self.engines.engine()
        if self.database is not None:
            sa_event.listen(self.database.sessionmaker, "before_commit", self._before_commit)
        register_service_metrics(self.service, self.engine, self.amqp_uri)
        if self.batch_size > 1:
            self._batcher = self.container.spawn_managed_thread(
                self._batch_loop, identifier=f"{self.consumer_name}.batches"
            )

    def stop(self) -> None:
        self._stopping = True  # events held while the database is down go back to the broker
        super().stop()  # no more messages arrive
        if self._batcher is not None:
            self._pending.put(_STOP)
            self._batcher.wait()
            self._lanes.waitall()  # batches in flight commit and ack
        self._forget_listener()
        self.engines.dispose()

    def kill(self) -> None:
        self._stopping = True
        if self._batcher is not None:
            for thread in list(self._lanes.coroutines_running):
                thread.kill()  # uncommitted: the broker redelivers their messages
            self._batcher.kill()
        self._forget_listener()
        self.engines.dispose()

    def _forget_listener(self) -> None:
        database = getattr(self, "database", None)
        if database is not None and sa_event.contains(database.sessionmaker, "before_commit", self._before_commit):
            sa_event.remove(database.sessionmaker, "before_commit", self._before_commit)

    # -- inbox ----------------------------------------------------------------------------------

    def _inbox_key(self, event: CloudEvent[Any]) -> dict[str, str]:
        return {"consumer": self.consumer_name, "source": event.source, "event_id": event.id}

    def _add_inbox_row(self, session: Session, event: CloudEvent[Any]) -> None:
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

    def already_handled(self, event: CloudEvent[Any]) -> bool:
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

    def identity_verified(self, message: Any) -> bool:
        """An event whose identity headers are unsigned or forged is dead-lettered at once, never applied."""
        try:
            verify_event(message, self.signing_key)
        except IdentityRefused as exc:
            log.error("%s: refusing an event (message id %s): %s", self.consumer_name,
                      message.properties.get("message_id"), exc)
            self.container.spawn_managed_thread(partial(self._dead_letter, message, exc, 1),
                                                identifier=f"{self.consumer_name}.refused")
            return False
        return True

    def handle_message(self, body: Any, message: Any) -> None:
        """One message, one worker (batching off, a suspect event, or a message that does not parse)."""
        try:
            event = parse_event(body)
        except InvalidEvent as exc:
            log.error("%s: dead-lettering an invalid event: %s", self.consumer_name, exc)
            self._dead_letter(message, exc, attempts=1)
            return
        self._apply_alone(event, message)

    def _context_of(self, event: CloudEvent[Any], message: Any) -> dict[str, Any]:
        headers = self.unpack_message_headers(message)
        context = {key: headers[key] for key in CONTEXT_KEYS if headers.get(key) is not None}
        context["agency"] = event.tenantid
        if event.traceparent:
            context["traceparent"] = event.traceparent
        return context

    def _apply_alone(self, event: CloudEvent[Any], message: Any) -> None:
        """A nameko worker for this one event; `_handle_result` commits with the inbox row and acks.

        No inbox SELECT first: a duplicate fails the inbox row's unique key at commit, and
        `_handle_result` then finds it handled and acks it without applying it.
        """
        context = self._context_of(event, message)
        span = self._process_span(event, context)
        try:
            self.container.spawn_worker(
                self,
                (event,),
                {},
                context_data=context,
                handle_result=partial(self._traced_result, span, message) if span else partial(
                    self._handle_result, message),
            )
        except ContainerBeingKilled:
            tracing.end_span(span, "the container is being killed")
            self._settle(message, ack=False)

    def _process_span(self, event: CloudEvent[Any], context: dict[str, Any]) -> Any:
        """The handler's span (a child of the event's traceparent); events it records become its children."""
        if not tracing.enabled():
            return None
        span = tracing.start_span(
            self.service, f"process {event.type}", parent=event.traceparent, kind=tracing.SpanKind.CONSUMER,
            attributes={"messaging.system": "rabbitmq", "messaging.operation.type": "process",
                        "messaging.destination.name": self.queue_name, "messaging.consumer.group.name":
                        self.consumer_name, "messaging.message.id": event.id, "cloudevents.event_type": event.type,
                        "cloudevents.event_source": event.source},
        )
        if span is not None:
            context["traceparent"] = tracing.traceparent_of(span)
        return span

    def _traced_result(self, span: Any, message: Any, worker_ctx: WorkerContext, result: Any = None,
                       exc_info: Any = None) -> tuple[Any, Any]:
        outcome = self._handle_result(message, worker_ctx, result, exc_info)
        tracing.end_span(span, exc_info[1] if exc_info else None)
        return outcome

    # -- batches ------------------------------------------------------------------------------

    def queue_for_batch(self, body: Any, message: Any) -> bool:
        """Take the message into the next batch; False leaves it to `handle_message` (one by one)."""
        if self.batch_size <= 1:
            return False
        try:
            event = parse_event(body)
        except Exception:  # noqa: BLE001 - not here, in the broker's read loop: handle_message deals with it
            return False
        if event.id in self._suspects:
            return False
        self._pending.put((event, message))
        return True

    def _suspect(self, event: CloudEvent[Any]) -> None:
        self._suspects[event.id] = None
        self._suspects.move_to_end(event.id)
        while len(self._suspects) > SUSPECTS_KEPT:
            self._suspects.popitem(last=False)

    def _batch_loop(self) -> None:
        while True:
            first = self._pending.get()
            if first is _STOP:
                return
            batch = [first]
            while len(batch) < self.batch_size:
                try:
                    item = self._pending.get_nowait()
                except Empty:
                    break
                if item is _STOP:
                    self._pending.put(_STOP)
                    break
                batch.append(item)
            # Blocks while both lanes are busy; meanwhile messages pile up and the next batch is fuller.
            self._lanes.spawn_n(self._run_batch, batch)

    def _run_batch(self, batch: list[tuple[CloudEvent[Any], Any]]) -> None:
        try:
            fresh = self._without_copies(batch)
            while self._apply_batch(fresh) is DATABASE_DOWN:
                if not self._wait_for_database():
                    for _event, message in fresh:
                        self._settle(message, ack=False)
                    return
        except Exception:
            log.exception("%s: a batch of %d events failed unexpectedly; requeueing", self.consumer_name, len(batch))
            for _event, message in batch:
                self._settle(message, ack=False)

    def _without_copies(self, batch: list[tuple[CloudEvent[Any], Any]]) -> list[tuple[CloudEvent[Any], Any]]:
        # The same event twice in one batch (republished by a relay): the copy goes one by one, where
        # the inbox turns it away.
        fresh: list[tuple[CloudEvent[Any], Any]] = []
        seen: set[tuple[str, str]] = set()
        for event, message in batch:
            key = (event.source, event.id)
            if key in seen:
                self._apply_alone(event, message)
            else:
                seen.add(key)
                fresh.append((event, message))
        return fresh

    def _apply_batch(self, fresh: list[tuple[CloudEvent[Any], Any]]) -> object:  # noqa: C901 - the batch transaction and its three outcomes (applied, duplicate, database down) stay in one place
        """Apply the batch in one transaction; DATABASE_DOWN (nothing applied, nothing settled) if the
        database could not be reached."""
        session = BatchSession(self.engine, expire_on_commit=False)
        try:
            try:
                claimed = self._claim_inbox(session, [event for event, _ in fresh])
            except Exception as exc:
                if self._database_down(exc):
                    return DATABASE_DOWN
                log.warning(
                    "%s: inbox unavailable; requeueing %d events", self.consumer_name, len(fresh), exc_info=True
                )
                eventlet.sleep(self.retry_delay)
                for _event, message in fresh:
                    self._settle(message, ack=False)
                return None
            todo = []
            for event, message in fresh:
                if (event.source, event.id) not in claimed:
                    log.info("%s: event %s already handled; acked", self.consumer_name, event.id)
                    count_duplicate(self.service, self.method_name)
                    self._settle(message, ack=True)
                else:
                    todo.append((event, message))
            if not todo:
                return None
            failed: CloudEvent[Any] | None = None
            error: BaseException | None = None
            for event, message in todo:
                error = self._apply_in_batch(session, event, message)
                if error is None and session.doomed:
                    error = RuntimeError("the handler rolled back or closed the batch's session")
                if error is not None:
                    failed = event
                    break
            if error is None:
                try:
                    session.commit_batch([])  # the inbox rows are in already
                except Exception as exc:  # noqa: BLE001 - a constraint failed: one by one
                    error = exc
        finally:
            session.close()
        if error is not None and self._database_down(error):
            return DATABASE_DOWN  # rolled back; the same batch again once the database answers
        count_batch(self.service, self.method_name, len(todo), committed=error is None)
        if error is None:
            with gathered(_connection_of(todo[0][1])):  # the batch's acks in one write
                for _event, message in todo:
                    self._settle(message, ack=True)
            return None
        if failed is not None:
            self._suspect(failed)
        log.warning(
            "%s: a batch of %d events was rolled back (%s: %s); applying them one by one",
            self.consumer_name,
            len(todo),
            type(error).__name__,
            str(error)[:200],
        )
        for event, message in todo:
            self._apply_alone(event, message)
        return None

    # -- the database away ------------------------------------------------------------------------

    def _database_down(self, error: BaseException) -> bool:
        """Whether `error` came from the database being away rather than from the event."""
        if isinstance(error, DBAPIError) and error.connection_invalidated:
            return True
        return not database_reachable(self.engine)[0]

    def _wait_for_database(self) -> bool:
        """Hold the events in hand until the database answers again (True), or until the service stops (False).

        Requeueing them instead would spend a delivery attempt on every try: the quorum queue's delivery
        limit would dead-letter healthy events within seconds of an outage. Held, they stay unacknowledged
        on a live connection (prefetch bounds how many), so the broker neither redelivers nor counts them.
        """
        delay = self.retry_delay
        warned = False
        while not self._stopping:
            if database_reachable(self.engine)[0]:
                if warned:
                    log.warning("%s: the database answers again; applying the events held", self.consumer_name)
                return True
            if not warned:
                log.warning("%s: the database is unreachable; holding events until it answers", self.consumer_name)
                warned = True
            eventlet.sleep(delay)
            delay = min(delay * 2, self.max_retry_delay)
        return False

    def _claim_inbox(self, session: Session, events: list[CloudEvent[Any]]) -> set[tuple[str, str]]:
        """Write the batch's inbox rows first, in one statement, skipping those already there: the events
        whose row went in are the ones to apply (they commit or roll back with it); the others were handled.

        One statement instead of a SELECT before and an INSERT after. A copy another consumer is applying
        right now waits on its row's key until that transaction ends, then counts as handled (or, if that
        one rolled back, as this batch's).
        """
        inbox = TABLES.inbox
        now = datetime.now(UTC)
        rows = [{**self._inbox_key(event), "event_type": event.type, "handled_at": now} for event in events]
        statement = insert_for(self.engine)(inbox).on_conflict_do_nothing().returning(inbox.c.source,
                                                                                         inbox.c.event_id)
        inserted = session.execute(statement, rows).all()  # one multi-row INSERT (SQLAlchemy's insertmanyvalues)
        return {(row.source, row.event_id) for row in inserted}

    def _apply_in_batch(self, session: BatchSession, event: CloudEvent[Any], message: Any) -> BaseException | None:
        """Run the handler as a nameko worker would (dependencies, context), on the batch's session.

        nameko 2.14 (pinned) has no public way to run a worker inline with a given session, so this
        follows `ServiceContainer._run_worker`: inject, set up, call, signal the result, tear down.
        The worker's own `Database` session is swapped for the batch's before the handler runs, both where
        the service reads it (`self.db`) and where the other providers find it (`Database.sessions`: the
        `Auditor` writes its rows there), so everything the handler writes joins the batch's transaction.
        The unused one is put back before teardown, which closes it as usual.
        """
        database = self.database
        assert database is not None
        container = self.container
        context = self._context_of(event, message)
        span = self._process_span(event, context)
        worker_ctx = WorkerContext(container, container.service_cls(), self, (event,), {}, data=context)
        container._inject_dependencies(worker_ctx)
        own = database.sessions.get(worker_ctx)
        database.sessions[worker_ctx] = session
        setattr(worker_ctx.service, database.attr_name, session)
        container._worker_setup(worker_ctx)
        error: BaseException | None = None
        exc_info: Any = None
        try:
            getattr(worker_ctx.service, self.method_name)(event)
        except Exception as exc:  # noqa: BLE001 - the batch falls back to one by one, which reports it
            error, exc_info = exc, sys.exc_info()
        try:
            container._worker_result(worker_ctx, None, exc_info)
        finally:
            if own is not None:
                database.sessions[worker_ctx] = own  # teardown closes the unused one, not the batch's
            else:
                database.sessions.pop(worker_ctx, None)
            container._worker_teardown(worker_ctx)
            tracing.end_span(span, error)
        return error

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
        event: CloudEvent[Any] = worker_ctx.args[0]
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
            self._suspects.pop(event.id, None)
            self._settle(message, ack=True)
            return result, exc_info
        if error is not None and exc_info is None:
            exc_info = (type(error), error, error.__traceback__)
        session.rollback()
        if self._database_down(error):
            # Not the event's fault: no attempt spent. Run it again once the database answers, from a
            # thread of its own (this worker must end first to free its slot).
            self.container.spawn_managed_thread(partial(self._again_when_database_answers, event, message))
            return None, None
        if isinstance(error, IntegrityError) or error is not None:
            try:
                if self.already_handled(event):
                    log.info("%s: event %s was handled concurrently; acked", self.consumer_name, event.id)
                    count_duplicate(self.service, self.method_name)
                    self._settle(message, ack=True)
                    return None, None
            except Exception:
                log.warning("%s: inbox check failed", self.consumer_name, exc_info=True)
        self._failed(message, event, error)
        return result, exc_info

    def _again_when_database_answers(self, event: CloudEvent[Any], message: Any) -> None:
        if self._wait_for_database():
            self._apply_alone(event, message)
        else:
            self._settle(message, ack=False)

    def _failed(self, message: Any, event: CloudEvent[Any], error: BaseException) -> None:
        count_handler_failure(self.service, self.method_name)
        self._suspect(event)
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
        except Exception:
            log.exception("%s: could not dead-letter; requeueing", self.consumer_name)
            eventlet.sleep(self.retry_delay)
            self._settle(message, ack=False)
            return
        self._settle(message, ack=True)


F = TypeVar("F", bound=Callable[..., Any])


def reliable_handler(*args: Any, **options: Any) -> Callable[[F], F]:
    """`@reliable_handler(ReferralAccepted)`: the method handles that event type exactly once per event (see
    `ReliableEventHandler` for the options); the decorated method keeps its signature."""
    decorator: Callable[[F], F] = ReliableEventHandler.decorator(*args, **options)
    return decorator
