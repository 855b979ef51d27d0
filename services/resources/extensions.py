"""resources' own dependency providers: its settings, the escalation timer, the audit log."""

from __future__ import annotations

from typing import Any, Literal

from nameko.extensions import DependencyProvider
from nameko.timer import Timer

from services.resources.settings import ResourcesSettings, resources_settings
from shared.audit import write_audit, write_audit_now
from shared.http import Call
from shared.messaging.service import find_database

Outcome = Literal["success", "failure", "denied"]


class ResourcesConfig(DependencyProvider):
    """Injects the service's own settings."""

    def setup(self) -> None:
        self.settings = resources_settings(self.container)

    def get_dependency(self, worker_ctx: Any) -> ResourcesSettings:
        return self.settings


class EscalationTimer(Timer):
    """nameko's timer, its interval read from settings at setup (tests run it every fraction of a second)."""

    def __init__(self, interval: float = 60.0, **kwargs: Any) -> None:
        super().__init__(interval, **kwargs)

    def setup(self) -> None:
        self.interval = resources_settings(self.container).escalation_interval_seconds
        super().setup()


escalation_timer = EscalationTimer.decorator


class AuditLog:
    """The audit log of one worker: `record` in its transaction, `record_now` in a transaction of its own."""

    def __init__(self, service: str, provider: Any, worker_ctx: Any) -> None:
        self.service, self._provider, self._worker_ctx = service, provider, worker_ctx

    def _fields(self, call: Call, action: str, resource_type: str, resource_id: str | None,
                detail: dict[str, Any] | None, outcome: Outcome) -> dict[str, Any]:
        return dict(service=self.service, action=action, outcome=outcome, identity=call.identity,
                    resource_type=resource_type, resource_id=resource_id, source_ip=call.remote_addr,
                    request_id=call.request_id, detail=detail)

    def record(self, call: Call, action: str, resource_type: str, resource_id: str | None, *,
               detail: dict[str, Any] | None = None, outcome: Outcome = "success") -> None:
        write_audit(self._provider.sessions[self._worker_ctx],
                    **self._fields(call, action, resource_type, resource_id, detail, outcome))

    def record_now(self, call: Call, action: str, resource_type: str, resource_id: str | None, *,
                   detail: dict[str, Any] | None = None, outcome: Outcome = "success") -> None:
        write_audit_now(self._provider.engine, **self._fields(call, action, resource_type, resource_id, detail,
                                                              outcome))

    def record_system(self, action: str, resource_type: str, resource_id: str | None, *, actor: str | None,
                      agency: str | None, detail: dict[str, Any] | None = None,
                      outcome: Outcome = "success") -> None:
        write_audit(self._provider.sessions[self._worker_ctx], service=self.service, action=action,
                    outcome=outcome, identity=None, agency_id=agency, actor=actor, resource_type=resource_type,
                    resource_id=resource_id, source_ip=None, request_id=None, detail=detail)


class Auditor(DependencyProvider):
    """Injects the worker's `AuditLog` (the service declares a `shared.db.Database`)."""

    def setup(self) -> None:
        self.database = find_database(self.container)

    def get_dependency(self, worker_ctx: Any) -> AuditLog:
        return AuditLog(self.container.service_name, self.database, worker_ctx)
