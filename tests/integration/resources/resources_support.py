"""Fixtures for the resources tests: the service on its own RPC exchange, and a fake casework consent check.

The fake `casework` stands in for the casework service, which is outside resources (its helper builds the
real one in parallel): it answers `consent_covers` as the RPC contract says. Each test gets its own RPC
exchange and queue, so no other casework container on the shared broker can answer our calls, and the
fake runs only while its test does (container_factory stops it).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import eventlet
import pytest
from kombu import Connection, Queue
from nameko.extensions import DependencyProvider
from nameko.rpc import Rpc, RpcConsumer, get_rpc_exchange
from sqlalchemy import text

from services.resources.demo import load_demo
from shared.db import make_engine, session_scope
from tests.conftest import AMQP_URI, Api, make_settings
from tests.support.waiting import wait_for  # noqa: F401 (re-exported to the tests here)

NOTICE = "42 CFR part 2 prohibits unauthorized use or disclosure of these records."


@dataclass
class ConsentLedger:
    """What the fake casework answers: consents by (agency, participant, organization), and the calls seen."""

    covered: dict[tuple[str, str, str], str] = field(default_factory=dict)
    calls: list[dict[str, Any]] = field(default_factory=list)
    delay: float = 0.0

    def grant(self, agency: str, participant_id: str, organization_id: str) -> str:
        consent_id = f"consent-{uuid.uuid4().hex[:8]}"
        self.covered[(agency, participant_id, organization_id)] = consent_id
        return consent_id


class _Caller(DependencyProvider):
    def get_dependency(self, worker_ctx: Any) -> dict[str, Any]:
        return dict(worker_ctx.context_data)


def fake_casework_class(ledger: ConsentLedger, queue_name: str) -> type:
    class IsolatedRpcConsumer(RpcConsumer):
        def setup(self) -> None:
            if self.queue is None:
                self.queue = Queue(queue_name, exchange=get_rpc_exchange(self.container.config),
                                   routing_key="casework.*", durable=False, auto_delete=True)
                self.queue_consumer.register_provider(self)
                self._registered = True

    class IsolatedRpc(Rpc):
        rpc_consumer = IsolatedRpcConsumer()

    class FakeCasework:
        name = "casework"
        caller = _Caller()

        @IsolatedRpc.decorator
        def consent_covers(self, participant_id: str, recipient_org: str, categories: list[str], purpose: str,
                           on_date: str, case_id: str | None = None, channel: str | None = None) -> dict[str, Any]:
            agency = self.caller.get("agency")
            ledger.calls.append({"participant_id": participant_id, "recipient_org": recipient_org,
                                 "categories": categories, "purpose": purpose, "on_date": on_date,
                                 "agency": agency, "sub": self.caller.get("sub"), "case_id": case_id,
                                 "channel": channel})
            if ledger.delay:
                eventlet.sleep(ledger.delay)
            consent_id = ledger.covered.get((str(agency), participant_id, recipient_org))
            if consent_id is None:
                return {"covered": False, "consent_id": None, "reason": "no consent names this recipient",
                        "notice": ""}
            return {"covered": True, "consent_id": consent_id, "reason": "covered", "notice": NOTICE}

    return FakeCasework


@dataclass
class Harness:
    start: Callable[..., Api]
    ledger: ConsentLedger
    database_url: str

    def caseload(self, agency: str, case_id: str, participant_id: str, case_manager: str | None) -> None:
        """Put a case on the local caseload as `case.opened` and `case.assigned` would (ADR 0071)."""
        engine = make_engine(self.database_url)
        try:
            with engine.begin() as connection:
                connection.execute(text(
                    "INSERT INTO caseload_entry (agency_id, case_id, participant_id, case_manager, assigned_at, "
                    "updated_at) VALUES (:a, :c, :p, :m, now(), now())"),
                    {"a": agency, "c": case_id, "p": participant_id, "m": case_manager})
        finally:
            engine.dispose()

    def sql(self, statement: str, **params: Any) -> list[Any]:
        engine = make_engine(self.database_url)
        try:
            with engine.connect() as connection:
                return list(connection.execute(text(statement), params))
        finally:
            engine.dispose()


@pytest.fixture
def resources(container_factory: Any, pg_databases: dict[str, str], tmp_path: Any) -> Iterator[Harness]:
    """Start resources (and, with casework=True, the fake casework) on a private RPC exchange."""
    from services.resources.service import ResourcesService

    exchange = f"diversion-test-rpc-{uuid.uuid4().hex[:10]}"
    queue = f"diversion-test.{uuid.uuid4().hex[:10]}.casework.rpc"
    ledger = ConsentLedger()
    started_casework: list[Any] = []
    started: list[Any] = []

    def start(casework: bool = True, **overrides: str) -> Api:
        url = overrides.pop("database_url", pg_databases["resources"])
        if casework and not started_casework:
            fake = container_factory(fake_casework_class(ledger, queue),
                                     {"AMQP_URI": AMQP_URI, "rpc_exchange": exchange, "serializer": "json"})
            fake.start()
            started_casework.append(fake)
            started.append(fake)
        settings = make_settings("resources", url, str(tmp_path), **overrides)
        config = settings.nameko_config()
        config["rpc_exchange"] = exchange
        config["DIVERSION_OUTBOX_POLL_SECONDS"] = 0.2
        container = container_factory(ResourcesService, config)
        container.start()
        started.append(container)
        api = Api(f"http://127.0.0.1:{settings.service.http_port}")
        api.container = container  # type: ignore[attr-defined]
        api.settings = settings  # type: ignore[attr-defined]
        return api

    engine = make_engine(pg_databases["resources"])
    with session_scope(engine) as session:
        load_demo(session)
    engine.dispose()
    yield Harness(start, ledger, pg_databases["resources"])
    for container in reversed(started):  # before their exchange goes away
        container.stop()
    with Connection(AMQP_URI) as connection:
        channel = connection.channel()
        channel.queue_delete(queue)
        channel.exchange_delete(exchange)
