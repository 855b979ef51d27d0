"""Small test services (a publisher and a consumer) built with the messaging layer, as a service author would.

Both are built by factories so each test gets its own service, queue and exchange names.
"""

from __future__ import annotations

import os
import signal
from datetime import UTC, datetime
from typing import Any

import eventlet
from nameko.extensions import DependencyProvider
from sqlalchemy import Integer, MetaData, String, create_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from shared.config import load_settings
from shared.db import Database
from shared.messaging import ConsentRequired, Outbox, RpcProxy, new_event, reliable_handler, rpc
from shared.messaging.catalog import CaseOpened
from shared.messaging.tables import add_messaging_tables
from tests.support.waiting import wait_for  # noqa: F401 (re-exported to the tests here)

POISON = "poison"
COMMITS_ITSELF = "commits-itself"  # the handler calls self.db.commit() itself, as intake's handlers do
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


class PublisherBase(DeclarativeBase):
    metadata = MetaData()


class Thing(PublisherBase):
    __tablename__ = "things"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(String(100))


add_messaging_tables(PublisherBase.metadata)


class ConsumerBase(DeclarativeBase):
    metadata = MetaData()


class Effect(ConsumerBase):
    """What the consumer did per event; deliberately not unique, so only the inbox prevents doubles."""

    __tablename__ = "effects"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    consumer: Mapped[str] = mapped_column(String(200))
    event_id: Mapped[str] = mapped_column(String(100))
    subject: Mapped[str] = mapped_column(String(200))
    agency: Mapped[str | None] = mapped_column(String(100))
    actor: Mapped[str | None] = mapped_column(String(100))
    traceparent: Mapped[str | None] = mapped_column(String(100))


add_messaging_tables(ConsumerBase.metadata)


def create_tables(url: str, base: type[DeclarativeBase]) -> None:
    engine = create_engine(url)
    base.metadata.create_all(engine)
    engine.dispose()


def config(
    amqp_uri: str, database_url: str, delivery_limit: int = 3, rpc_timeout: float = 10.0, batch_size: int | None = None
) -> dict[str, Any]:
    env = {
        "DIVERSION_AMQP_URI": amqp_uri,
        "DIVERSION_DELIVERY_LIMIT": str(delivery_limit),
        "DIVERSION_RPC_TIMEOUT_SECONDS": str(rpc_timeout),
        "DIVERSION_CASEWORK_DATABASE_URL": database_url,
        "DIVERSION_DATA_DIR": "/tmp",
        "DIVERSION_MESSAGE_SIGNING_KEY": os.environ.get("DIVERSION_MESSAGE_SIGNING_KEY",
                                                        "test-message-key-not-for-production-0123456789"),
    }
    if batch_size is not None:
        env["DIVERSION_CONSUMER_BATCH_SIZE"] = str(batch_size)
    settings = load_settings("casework", env=env)
    cfg = settings.nameko_config()
    cfg["HEARTBEAT"] = 5  # notice a restarted broker quickly
    cfg["DIVERSION_OUTBOX_POLL_SECONDS"] = 0.2  # tests also commit from outside the service
    return cfg


def case_opened(n: int, program: str = "general", subject: str | None = None, tenant: str = "stl-cao") -> Any:
    data = CaseOpened(case_id=f"case-{n}", referral_id=f"ref-{n}", program=program, opened_at=datetime.now(UTC))
    return new_event(data, subject=subject or f"case-{n}", tenantid=tenant, traceparent=TRACEPARENT)


class ContextReader(DependencyProvider):
    """Lets a handler see its worker's context data (what a service's auth helper would read)."""

    def get_dependency(self, worker_ctx: Any) -> dict[str, Any]:
        return dict(worker_ctx.context_data)


def make_publisher(name: str, fault: str | None = None) -> type:
    class Publisher:
        db = Database()
        outbox = Outbox()

        @rpc
        def open_cases(self, start: int, count: int) -> int:
            for n in range(start, start + count):
                self.db.add(Thing(case_id=f"case-{n}"))
                self.outbox.record(self.db, case_opened(n))
            self.db.commit()
            if fault == "after_commit":
                os.kill(os.getpid(), signal.SIGKILL)
            return count

    Publisher.name = name  # type: ignore[attr-defined]
    return Publisher


def make_consumer(name: str, source: str, retry_delay: float = 0.05, pace: float = 0.0) -> type:
    """A reliable consumer of `source`'s case.opened; `pace` seconds of work per event slow it down on purpose."""

    class Consumer:
        db = Database()
        context = ContextReader()

        @reliable_handler(CaseOpened, source=source, retry_delay=retry_delay, max_retry_delay=0.2)
        def on_case_opened(self, event: Any) -> None:
            if event.data.program == POISON:
                raise ValueError(f"cannot handle program {event.data.program!r}")
            if pace:
                eventlet.sleep(pace)
            self.db.add(
                Effect(
                    consumer=name,
                    event_id=event.id,
                    subject=event.subject,
                    agency=self.context.get("agency"),
                    actor=self.context.get("sub"),
                    traceparent=self.context.get("traceparent"),
                )
            )
            if event.data.program == COMMITS_ITSELF:
                self.db.commit()

    Consumer.name = name  # type: ignore[attr-defined]
    return Consumer


def make_consent_service(name: str) -> type:
    class Consents:
        context = ContextReader()

        @rpc
        def check(self, participant: str) -> dict[str, Any]:
            if participant == "nobody":
                raise ConsentRequired(f"no consent on file for {participant}")
            return {"ok": True, "agency": self.context.get("agency"), "sub": self.context.get("sub")}

    Consents.name = name  # type: ignore[attr-defined]
    return Consents


def make_caller(name: str, target: str, timeout: float) -> type:
    class Caller:
        consents = RpcProxy(target, timeout=timeout)

        @rpc
        def ask(self, participant: str) -> Any:
            return self.consents.check(participant)

    Caller.name = name  # type: ignore[attr-defined]
    return Caller


def effects(url: str, consumer: str) -> tuple[int, int]:
    """(effects, distinct events) the consumer applied."""
    from sqlalchemy import func, select

    engine = create_engine(url)
    try:
        with Session(engine) as session:
            row = session.execute(
                select(func.count(), func.count(Effect.event_id.distinct())).where(Effect.consumer == consumer)
            ).one()
            return int(row[0]), int(row[1])
    finally:
        engine.dispose()
