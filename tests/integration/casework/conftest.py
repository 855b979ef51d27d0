"""Fixtures for casework against real PostgreSQL and RabbitMQ: intake's outbox, an event tap, cases and staff."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kombu import Connection, Exchange, Queue
from sqlalchemy import MetaData, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from services.casework.models import CaseRecord, ContactRecord
from services.casework.settings import CaseworkSettings
from services.casework.usecases.events import open_case_from_referral
from shared.db import make_engine
from shared.messaging.catalog import Demographics, Participant, ReferralAccepted
from shared.messaging.envelope import CloudEvent, new_event
from shared.messaging.outbox import OutboxRelay, record
from shared.messaging.tables import add_messaging_tables
from shared.messaging.topology import events_exchange_name
from tests.conftest import AMQP_URI, make_token
from tests.support.waiting import wait_for  # noqa: F401 (re-exported to the tests here)

HANDLER_QUEUES = (
    "diversion.casework.on_referral_accepted--intake.referral.accepted",
    "diversion.casework.on_service_referral_status_changed--resources.service_referral.status_changed",
)


@pytest.fixture(scope="session", autouse=True)
def _delete_casework_queues_when_unused() -> Iterator[None]:
    """The handler queues are production names: delete them at the end only if no other run consumes them."""
    yield
    with Connection(AMQP_URI) as connection:
        channel = connection.channel()
        for name in HANDLER_QUEUES:
            try:
                channel.queue_delete(name, if_unused=True)
            except Exception:  # noqa: BLE001 - in use by another run, or already gone: leave it
                channel = connection.channel()


def referral(
    agency: str, *, referral_id: str | None = None, program: str = "young-adult", min_months: int = 6,
    max_months: int = 18, demographics: Demographics | None = None, event_id: str | None = None,
    first_name: str = "Jordan", phone: str | None = "+13145550100",
) -> CloudEvent:
    """A `referral.accepted` event as intake publishes it."""
    data = ReferralAccepted(
        referral_id=referral_id or f"ref-{uuid.uuid4().hex[:10]}", case_number=f"2522-CR{uuid.uuid4().hex[:6]}",
        program=program, min_months=min_months, max_months=max_months,
        participant=Participant(first_name=first_name, last_name="Doe", date_of_birth=date(2001, 5, 17),
                                phone=phone, email="jordan@example.org", preferred_language="es",
                                demographics=demographics),
        accepted_at=datetime.now(UTC), decided_by="prosecutor-1",
    )
    return new_event(data, subject=data.referral_id, tenantid=agency, event_id=event_id)


class IntakeOutbox:
    """A throwaway intake database (SQLite) whose outbox the real relay publishes, like intake does."""

    def __init__(self, path: Path) -> None:
        self.engine = make_engine(f"sqlite:///{path}")
        metadata = MetaData()
        add_messaging_tables(metadata)
        metadata.create_all(self.engine)
        self.relay = OutboxRelay(self.engine, AMQP_URI, "intake")

    def publish(self, *events: CloudEvent, service: str = "intake") -> None:
        with Session(self.engine) as session, session.begin():
            for event in events:
                record(session, event, service=service, context={"sub": "prosecutor-1"})
        self.relay.drain()

    def publish_again(self, event: CloudEvent) -> None:
        """Publish an already-sent event once more, as a relay does when it crashed before marking it sent."""
        from sqlalchemy import update

        from shared.messaging.tables import TABLES

        with self.engine.begin() as connection:
            connection.execute(update(TABLES.outbox).where(TABLES.outbox.c.event_id == event.id).values(sent_at=None))
        self.relay.drain()

    def close(self) -> None:
        self.relay.close()
        self.engine.dispose()


@pytest.fixture
def intake(tmp_path: Path) -> Iterator[IntakeOutbox]:
    outbox = IntakeOutbox(tmp_path / f"intake-{uuid.uuid4().hex[:6]}.db")
    yield outbox
    outbox.close()


class EventTap:
    """An exclusive queue bound to casework's exchange: what a consumer of casework's events receives."""

    def __init__(self) -> None:
        self.connection = Connection(AMQP_URI)
        self.channel = self.connection.channel()
        exchange = Exchange(events_exchange_name("casework"), type="topic", durable=True,
                            arguments={"alternate-exchange": "diversion.casework.unrouted"})
        self.queue = Queue(f"diversion.test-cw.tap.{uuid.uuid4().hex[:8]}", exchange=exchange,
                           routing_key="org.diversion.casework.#", exclusive=True, auto_delete=True,
                           channel=self.channel)
        exchange(self.channel).declare()
        self.queue.declare()
        self.seen: list[dict[str, Any]] = []

    def drain(self) -> list[dict[str, Any]]:
        while (message := self.queue.get(no_ack=True)) is not None:
            self.seen.append(json.loads(message.body))
        return self.seen

    def of(self, agency: str, short_type: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.drain() if e["tenantid"] == agency
                and (short_type is None or e["type"].endswith("." + short_type))]

    def close(self) -> None:
        try:
            self.queue.delete()
        finally:
            self.connection.release()


@pytest.fixture
def tap() -> Iterator[EventTap]:
    events = EventTap()
    yield events
    events.close()


@pytest.fixture
def casework(start_service: Callable[..., Any]) -> Any:
    return start_service("casework")


@pytest.fixture
def engine(casework: Any) -> Iterator[Engine]:
    db = make_engine(casework.settings.database_url)
    yield db
    db.dispose()


class Agency:
    """One tenant's people and helpers: tokens, staff, and cases opened the way the handler opens them."""

    def __init__(self, slug: str, api: Any, engine: Engine) -> None:
        self.slug, self.api, self.engine = slug, api, engine
        self.supervisor = make_token(slug, ("supervisor",), sub="sup-1")
        self.auditor = make_token(slug, ("auditor",), sub="aud-1")

    def manager_token(self, sub: str = "cm-1") -> str:
        return make_token(self.slug, ("case_manager",), sub=sub)

    def add_staff(self, sub: str = "cm-1", *, cap: int = 25, programs: tuple[str, ...] = ("young-adult",),
                  role: str = "case_manager") -> str:
        response = self.api.post("/v1/staff", token=self.supervisor, json={
            "name": f"Staff {sub}", "email": f"{sub}@{self.slug}.example.org", "role": role,
            "programs": list(programs), "caseload_cap": cap, "subject": sub})
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def open_case(self, **kwargs: Any) -> str:
        """Run the `referral.accepted` handler's function directly (outbox included) and return the case id."""
        event = referral(self.slug, **kwargs)
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            row = open_case_from_referral(session, lambda e: record(session, e, service="casework"), event,
                                          CaseworkSettings())
        return row.id

    def case_row(self, case_id: str) -> CaseRecord:
        with Session(self.engine, expire_on_commit=False) as session:
            row = session.scalar(select(CaseRecord).where(CaseRecord.id == case_id))
            assert row is not None
            return row

    def get_case(self, case_id: str, token: str | None = None) -> Any:
        response = self.api.get(f"/v1/cases/{case_id}", token=token or self.supervisor)
        assert response.status_code == 200, response.text
        return response

    def transition(self, case_id: str, body: dict[str, Any], token: str | None = None) -> Any:
        current = self.get_case(case_id)
        return self.api.post(f"/v1/cases/{case_id}/transitions", token=token or self.supervisor, json=body,
                             headers={"If-Match": current.headers["ETag"]})


@pytest.fixture
def tenant(casework: Any, engine: Engine, agency: str) -> Agency:
    return Agency(agency, casework, engine)


def outbox_events(engine: Engine, agency: str, short_type: str | None = None) -> list[dict[str, Any]]:
    """Events casework recorded for `agency` (sent or not), oldest first."""
    from shared.messaging.tables import TABLES

    with engine.connect() as connection:
        rows = connection.execute(select(TABLES.outbox.c.body).order_by(TABLES.outbox.c.id)).scalars().all()
    events = [json.loads(body) for body in rows]
    return [e for e in events if e["tenantid"] == agency
            and (short_type is None or e["type"].endswith("." + short_type))]


def make_case_due_everything(tenant):
    """A case started 40 days ago, ending in 10 days, never contacted, with a check-in missed 2 days ago."""
    case_id = tenant.open_case()
    today = date.today()
    with Session(tenant.engine) as session, session.begin():
        session.execute(update(CaseRecord).where(CaseRecord.id == case_id).values(
            start_date=today - timedelta(days=40), expected_end_date=today + timedelta(days=10)))
        session.add(ContactRecord(id=f"c-{case_id[:8]}", agency_id=tenant.slug, case_id=case_id, kind="check_in",
                                  scheduled_for=datetime.now(UTC) - timedelta(days=2), status="scheduled", notes="",
                                  version=1))
    return case_id
