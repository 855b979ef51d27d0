"""The `Outbox` dependency a service declares: it records events in the worker's transaction and runs the relay.

class IntakeService:
    name = "intake"
    db = Database()
    outbox = Outbox()

    def accept(self, ...):
        ...                                   # change state with self.db
        self.outbox.record(self.db, new_event(ReferralAccepted(...), subject=..., tenantid=...))
        self.db.commit()                      # state and event commit together; the relay publishes
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from nameko.containers import WorkerContext
from nameko.extensions import DependencyProvider, SharedExtension
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from shared.messaging.envelope import CloudEvent
from shared.messaging.metrics import register_service_metrics
from shared.messaging.outbox import OutboxRelay, RelayLoop, record
from shared.messaging.service import EngineSource, amqp_uri_of
from shared.messaging.signing import key_of

log = logging.getLogger(__name__)

# Optional nameko config key: seconds between outbox polls when no commit woke the relay.
OUTBOX_POLL_KEY = "DIVERSION_OUTBOX_POLL_SECONDS"


class OutboxRelayRunner(SharedExtension):  # type: ignore[misc]  # nameko's SharedExtension is untyped
    """One relay per container, started and stopped with it."""

    def __init__(self, poll_interval: float = 1.0, batch_size: int = 500) -> None:
        self.poll_interval = poll_interval
        self.batch_size = batch_size
        self.loop: RelayLoop | None = None
        self._thread: Any = None
        super().__init__()

    def setup(self) -> None:
        self.engines = EngineSource(self.container)

    def start(self) -> None:
        engine = self.engines.engine()
        relay = OutboxRelay(
            engine, amqp_uri_of(self.container), self.container.service_name, batch_size=self.batch_size,
            signing_key=key_of(self.container),
        )
        poll_interval = float(self.container.config.get(OUTBOX_POLL_KEY, self.poll_interval))
        self.loop = RelayLoop(relay, poll_interval=poll_interval)
        register_service_metrics(self.container.service_name, engine, amqp_uri_of(self.container))
        self._thread = self.container.spawn_managed_thread(self.loop.run, identifier="outbox_relay")

    def wake(self) -> None:
        if self.loop is not None:
            self.loop.wake()

    def stop(self) -> None:
        if self.loop is not None:
            self.loop.stop()
        if self._thread is not None:
            self._thread.wait()
        self.engines.dispose()

    def kill(self) -> None:
        if self.loop is not None:
            self.loop.stop()
            self.loop.relay.close()
        if self._thread is not None:
            self._thread.kill()
        self.engines.dispose()


class OutboxWriter:
    """What a worker gets: `record(session, event)`; the worker's identity context travels along."""

    def __init__(self, service: str, context: Mapping[str, Any], runner: OutboxRelayRunner) -> None:
        self.service = service
        self.context = dict(context)
        self._runner = runner

    def record(self, session: Session, event: CloudEvent[Any]) -> None:
        if event.traceparent is None and self.context.get("traceparent"):
            event = event.model_copy(update={"traceparent": self.context["traceparent"]})
        record(session, event, service=self.service, context=self.context)
        if not session.info.get("diversion_outbox_wake"):
            session.info["diversion_outbox_wake"] = True
            sa_event.listen(session, "after_commit", self._after_commit, once=True)

    def _after_commit(self, session: Session) -> None:
        session.info.pop("diversion_outbox_wake", None)
        self._runner.wake()


class Outbox(DependencyProvider):  # type: ignore[misc]  # nameko's DependencyProvider is untyped
    """Declare on a service to get `self.<attr>.record(session, event)` and a relay running in the container."""

    runner = OutboxRelayRunner()

    def get_dependency(self, worker_ctx: WorkerContext) -> OutboxWriter:
        return OutboxWriter(self.container.service_name, worker_ctx.context_data, self.runner)
