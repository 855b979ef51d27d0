"""Helpers for intake's sealing and erasure tests: a sealing pack for the test agency, a case carried to its
disposition, events published as another service, and direct reads of intake's database."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import yaml
from intake_api_support import decide, install_pack, publish_as_casework, submit
from kombu import Connection, Producer
from sqlalchemy import create_engine, func, select

from services.intake.extensions import Clock
from shared.messaging import new_event
from shared.messaging.catalog import CaseCompleted, CaseOpened
from shared.messaging.outbox import CLOUDEVENTS_CONTENT_TYPE
from shared.messaging.tables import TABLES
from shared.messaging.topology import declare_publisher_topology, events_exchange_name
from tests.conftest import AMQP_URI, make_token
from tests.support.signed import event_headers
from tests.support.waiting import wait_for

SEALING_REQUESTED = "org.diversion.intake.record.sealing_requested"
ERASURE_REQUESTED = "org.diversion.intake.record.erasure_requested"


def start_intake(start_service: Any, agency: str, tmp_path: Path, **settings: str) -> Any:
    """intake with a sealing pack for the test agency (dismissal and one-day probation seal at once)."""
    packs = tmp_path / "sealing-packs"
    packs.mkdir(exist_ok=True)
    (packs / f"{agency}.yaml").write_text(yaml.safe_dump({
        "agency": agency, "version": "2026.1",
        "rules": [{"disposition": "dismissal", "seal_after_days": 0},
                  {"disposition": "one_day_probation", "seal_after_days": 0}]}), encoding="utf-8")
    api = start_service("intake", DIVERSION_INTAKE_SEALING_PACKS_DIR=str(packs),
                        DIVERSION_INTAKE_SEALING_INTERVAL_SECONDS="0.1", **settings)
    install_pack(api, agency)
    return api


def clock(api: Any) -> Clock:
    return next(d for d in api.container.dependencies if isinstance(d, Clock))


def accepted_case(api: Any, agency: str, **submit_kwargs: Any) -> tuple[str, str]:
    """A referral accepted into young-adult whose case casework opened: (referral id, case id)."""
    created = submit(api, agency, **submit_kwargs)
    assert decide(api, agency, created["id"], {"action": "accept", "program": "young-adult"}).status_code == 200
    case_id = f"case-{uuid.uuid4().hex[:8]}"
    publish_as_casework(CaseOpened(case_id=case_id, referral_id=created["id"], program="young-adult",
                                   opened_at=dt.datetime.now(dt.UTC)), subject=case_id, agency=agency)
    wait_for(lambda: read(api, agency, created["id"]).json()["case_id"] == case_id, 15, "the case id")
    return created["id"], case_id


def complete(referral_id: str, case_id: str, agency: str, *, event_id: str | None = None,
             disposition: str = "dismissal") -> str:
    return publish_as_casework(CaseCompleted(case_id=case_id, referral_id=referral_id, disposition=disposition,
                                             completed_at=dt.datetime.now(dt.UTC)),
                               subject=case_id, agency=agency, event_id=event_id)


def publish_as(service: str, data: Any, *, subject: str, agency: str) -> str:
    """Publish an event the way `service`'s outbox relay does."""
    event = new_event(data, subject=subject, tenantid=agency)
    with Connection(AMQP_URI, transport_options={"confirm_publish": True}) as connection:
        declare_publisher_topology(connection, service)
        Producer(connection.channel()).publish(
            event.to_bytes(), exchange=events_exchange_name(service), routing_key=event.type,
            content_type=CLOUDEVENTS_CONTENT_TYPE, content_encoding="utf-8", delivery_mode=2, message_id=event.id,
            headers=event_headers(event, {"nameko.agency": agency, "nameko.sub": f"service:{service}"}),
            mandatory=True)
    return event.id


def read(api: Any, agency: str, referral_id: str, role: str = "supervisor", basis: str | None = None) -> Any:
    headers = {"X-Legal-Basis": basis} if basis else {}
    return api.get(f"/v1/referrals/{referral_id}", token=make_token(agency, (role,)), headers=headers)


def ledger(api: Any, agency: str, role: str = "records_officer", **params: Any) -> Any:
    return api.get("/v1/sealing-ledger", token=make_token(agency, (role,)), params=params)


def ledger_of(api: Any, agency: str, referral_id: str, kind: str = "sealing") -> dict[str, Any] | None:
    response = ledger(api, agency, referral_id=referral_id)
    assert response.status_code == 200, response.text
    entries = [e for e in response.json()["items"] if e["kind"] == kind]
    assert len(entries) <= 1, entries
    return entries[0] if entries else None


def outbox_events(database_url: str, event_type: str, subject: str) -> list[Any]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return list(connection.execute(select(TABLES.outbox.c.body, TABLES.outbox.c.sent_at).where(
                TABLES.outbox.c.event_type == event_type, TABLES.outbox.c.subject == subject)
                .order_by(TABLES.outbox.c.id)).all())
    finally:
        engine.dispose()


def handled(database_url: str, event_id: str) -> bool:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return bool(connection.scalar(select(func.count()).select_from(TABLES.inbox).where(
                TABLES.inbox.c.event_id == event_id)))
    finally:
        engine.dispose()
