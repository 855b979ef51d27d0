"""What every service has: health, readiness, metrics, its OpenAPI document and its audit trail.

A service class inherits `ServiceBase`, names itself and declares `db = Database()`.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any, ClassVar

from nameko.extensions import DependencyProvider
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from shared import migrations, tracing
from shared.audit import _writer_table as audit_rows
from shared.auth import is_deployment_admin
from shared.brokers import connect
from shared.config import SETTINGS_KEY, Settings
from shared.db import Database, database_reachable
from shared.http.api import ApiResponse, Call, api, bind_worker_context
from shared.http.openapi import openapi_document
from shared.http.pagination import Page, PageQuery, paginate
from shared.http.problems import Forbidden, ProblemDocument, ServiceUnavailable, problem_response
from shared.logs import clear_request_context
from shared.metrics import CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE, metrics_for
from shared.upkeep import RecordsUpkeep, common_timer


class Health(BaseModel):
    status: str = "ok"
    service: str


class Readiness(BaseModel):
    status: str = Field(description="ready or not_ready")
    service: str
    checks: dict[str, str]


class NotReady(ProblemDocument):
    """`/readyz`'s 503: a problem document that carries the readiness checks."""

    service: str
    checks: dict[str, str]


class AuditQuery(PageQuery):
    model_config = ConfigDict(extra="forbid")

    action: str | None = Field(default=None, max_length=80)
    resource_type: str | None = Field(default=None, max_length=80)
    resource_id: str | None = Field(default=None, max_length=200)
    outcome: str | None = Field(default=None, max_length=16)


class AuditEventOut(BaseModel):
    id: int
    occurred_at: dt.datetime
    service: str
    agency_id: str | None
    actor: str
    actor_roles: str
    action: str
    resource_type: str
    resource_id: str | None
    outcome: str
    source_ip: str | None
    request_id: str | None
    detail: dict[str, Any] | None


class Operations(DependencyProvider):  # type: ignore[misc]  # nameko's DependencyProvider is untyped
    """Readiness checks, metrics and the OpenAPI document for the service it belongs to."""

    BROKER_CHECK_TTL = 2.0

    def setup(self) -> None:
        self.settings: Settings = self.container.config[SETTINGS_KEY]
        tracing.configure(self.settings.common.otlp_endpoint)
        self.database = next(d for d in self.container.dependencies if isinstance(d, Database))
        self.head = migrations.head_revision(self.container.service_name)
        self._broker_checked = (0.0, "unknown")
        self._openapi: dict[str, Any] | None = None
        self._asyncapi: dict[str, Any] | None = None

    def get_dependency(self, worker_ctx: Any) -> Operations:
        return self

    def worker_setup(self, worker_ctx: Any) -> None:
        bind_worker_context(worker_ctx)

    def worker_teardown(self, worker_ctx: Any) -> None:
        clear_request_context()

    def broker_status(self) -> str:
        checked_at, status = self._broker_checked
        if time.monotonic() - checked_at < self.BROKER_CHECK_TTL:
            return status
        try:
            connect(self.settings.common.amqp_uri, timeout=2).release()  # any node of a cluster will do
            status = "ok"
        except Exception as exc:  # noqa: BLE001 - readiness reports any failure
            status = f"unreachable ({type(exc).__name__})"
        self._broker_checked = (time.monotonic(), status)
        return status

    def readiness(self) -> Readiness:
        db_ok, db_detail = database_reachable(self.database.engine)
        checks = {"database": "ok" if db_ok else f"unreachable ({db_detail})", "broker": self.broker_status()}
        if db_ok:
            at_head = migrations.at_head(self.database.engine, self.container.service_name, self.head)
            checks["migrations"] = "at head" if at_head else f"not at head ({self.head})"
        else:
            checks["migrations"] = "unknown"
        ready = checks["database"] == "ok" and checks["broker"] == "ok" and checks["migrations"] == "at head"
        return Readiness(status="ready" if ready else "not_ready", service=self.container.service_name,
                         checks=checks)

    def metrics_text(self, accept: str | None = None) -> tuple[bytes, str]:
        """The service's metrics, the messaging ones (outbox backlog, handler failures, dead-letter depth)
        and the process's, in the format `accept` asks for; returns the page and its content type."""
        from shared.messaging.metrics import collector_for

        collector = collector_for(self.container.service_name)
        return metrics_for(self.container).negotiate(accept, [collector] if collector is not None else [])

    def asyncapi(self) -> dict[str, Any]:
        from shared.messaging import asyncapi

        if self._asyncapi is None:
            self._asyncapi = asyncapi.generate()
        return self._asyncapi

    def openapi(self) -> dict[str, Any]:
        if self._openapi is None:
            service_cls = self.container.service_cls
            self._openapi = openapi_document(
                service_cls,
                title=f"Diversion {self.container.service_name} API",
                version=getattr(service_cls, "api_version", "1.0.0"),
                description=(service_cls.__doc__ or "").strip(),
            )
        return self._openapi


def audit_scope(call: Call, platform_agency: str) -> Any:
    """Which audit rows the caller reads: its agency's (auditor), or the platform's (the deployment's admin:
    `admin` in the operator's tenant), i.e. rows of no agency and the operator's own."""
    if is_deployment_admin(call.identity, platform_agency):
        return or_(audit_rows.c.agency_id.is_(None), audit_rows.c.agency_id == platform_agency)
    if call.identity is not None and "auditor" in call.identity.roles:
        return audit_rows.c.agency_id == call.agency
    raise Forbidden("the audit trail is read by an auditor, or by the deployment's admin for the platform audit")


class ServiceBase:
    """Health, readiness, metrics, OpenAPI and audit endpoints, shared by the four services."""

    name: ClassVar[str]
    api_version: ClassVar[str] = "1.0.0"
    # OpenAPI tag descriptions; a service class adds its own tags to these.
    api_tags: ClassVar[dict[str, str]] = {
        "operations": "Health, readiness, metrics and the service's interface documents (no token needed).",
        "audit": "The agency's append-only audit trail, for auditors.",
    }
    db: Session
    ops: Operations = Operations()
    upkeep: RecordsUpkeep = RecordsUpkeep()

    @common_timer("purge_interval_seconds")
    def records_upkeep(self) -> None:
        """Delete the rows past the retention schedule (shared/upkeep.py); one instance at a time."""
        self.upkeep.run()

    @common_timer("dropped_drain_interval_seconds")
    def dropped_drain(self) -> None:
        """Count and discard what the queue bounds dropped (shared/messaging/bounds.py, ADR 0085)."""
        self.upkeep.drain_dropped()

    @api("GET", "/healthz", public=True, response=Health, summary="The process is alive", tags=["operations"])
    def healthz(self, call: Call) -> Health:
        """Liveness: answers 200 while the process serves HTTP, whatever the state of its database or broker."""
        return Health(service=self.name)

    @api("GET", "/readyz", public=True, response=Readiness, responses={503: NotReady}, tags=["operations"],
         summary="Database and broker reachable, migrations at head")
    def readyz(self, call: Call) -> Any:
        """Readiness: 200 when the database and the broker answer and the migrations are at head; otherwise a
        503 problem document whose `checks` say which check failed."""
        readiness = self.ops.readiness()
        if readiness.status == "ready":
            return readiness
        failed = ", ".join(f"{check} {state}" for check, state in readiness.checks.items()
                           if state not in ("ok", "at head"))
        problem = ServiceUnavailable(f"not ready: {failed}", slug="not-ready", service=readiness.service,
                                     checks=readiness.checks)
        return problem_response(problem, request_id=call.request_id, instance="/readyz")

    @api("GET", "/metrics", public=True, media_type=CONTENT_TYPE, alternatives=[OPENMETRICS_CONTENT_TYPE],
         tags=["operations"], summary="Prometheus metrics (OpenMetrics for Accept: application/openmetrics-text)")
    def metrics(self, call: Call) -> ApiResponse:
        """Prometheus text exposition (OpenMetrics 1.0 for `Accept: application/openmetrics-text`): HTTP requests
        and latency, outbox backlog, handler failures, dead letters, deliveries, and the process's own figures."""
        page, content_type = self.ops.metrics_text(call.accept)
        return ApiResponse(page, media_type=content_type, headers={"Vary": "Accept"})

    @api("GET", "/openapi.json", public=True, tags=["operations"], summary="This OpenAPI document")
    def openapi(self, call: Call) -> dict[str, Any]:
        """This service's OpenAPI 3.1 document, generated from its routes (checked in under `docs/openapi/`)."""
        return self.ops.openapi()

    @api("GET", "/asyncapi.json", public=True, tags=["operations"],
         summary="The suite's AsyncAPI 3.0 document: every event, its exchange, queues and payload schema")
    def asyncapi(self, call: Call) -> dict[str, Any]:
        """The same document on every service (checked in as `docs/asyncapi.json`)."""
        return self.ops.asyncapi()

    def _audit_scope(self, call: Call) -> Any:
        return audit_scope(call, self.ops.settings.common.platform_agency)

    @api("GET", "/v1/audit", roles={"auditor", "admin"}, query=AuditQuery, response=Page[AuditEventOut],
         tags=["audit"], summary="The audit trail of the caller's agency, newest first (an auditor); the platform "
                                 "audit (failed logins naming no agency) for the deployment's admin")
    def list_audit_events(self, call: Call) -> Page[AuditEventOut]:
        """Filter by action, resource or outcome; pages with `cursor`."""
        query: AuditQuery = call.query
        statement = select(audit_rows).where(self._audit_scope(call))
        for column in ("action", "resource_type", "resource_id", "outcome"):
            value = getattr(query, column)
            if value is not None:
                statement = statement.where(audit_rows.c[column] == value)
        rows, next_cursor = paginate(self.db, call, statement, order=(audit_rows.c.id.desc(),),
                                     key=lambda row: (row["id"],), scalars=False)
        items = [AuditEventOut.model_validate(dict(row)) for row in rows]
        return Page[AuditEventOut](items=items, next_cursor=next_cursor)
