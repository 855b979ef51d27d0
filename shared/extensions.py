"""The nameko plumbing every service uses, written once: settings, timers, context data and the audit log.

    class CaseworkService(ServiceBase):
        db = Database()
        settings = OwnSettings(CaseworkSettings)   # self.settings -> CaseworkSettings
        context = ContextData()                        # self.context -> dict of the worker's context data
        audit = Auditor()                              # self.audit.record(call, "case.read", "case", case_id)

        @settings_timer(CaseworkSettings, "timer_interval_seconds")
        def supervision_sweep(self) -> None: ...

A service's own settings are `Settings.extra` (built by `shared.config` from `DIVERSION_<SERVICE>_*`); a
service run without the runner's extras (a test's container) gets the class's defaults.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from nameko.extensions import DependencyProvider
from nameko.timer import Timer
from pydantic_settings import BaseSettings
from sqlalchemy.orm import Session

from shared.audit import write_audit, write_audit_now
from shared.config import SETTINGS_KEY, Settings
from shared.messaging.service import find_database

if TYPE_CHECKING:
    from nameko.containers import WorkerContext

    from shared.auth import Identity
    from shared.http.api import Call

S = TypeVar("S", bound=BaseSettings)


def own_settings(source: Any, cls: type[S]) -> S:
    """The service's own settings of type `cls` from a container, its config or a `Settings`; else defaults."""
    config = getattr(source, "config", source)
    settings = config.get(SETTINGS_KEY) if isinstance(config, Mapping) else config
    extra = settings.extra if isinstance(settings, Settings) else None
    return extra if isinstance(extra, cls) else cls()


class OwnSettings(DependencyProvider, Generic[S]):  # type: ignore[misc]  # nameko is untyped
    """Injects the service's own settings object (read once, at setup)."""

    def __init__(self, cls: type[S]) -> None:
        self.cls = cls

    def setup(self) -> None:
        self.settings: S = own_settings(self.container, self.cls)

    def get_dependency(self, worker_ctx: WorkerContext) -> S:
        return self.settings


class SettingsTimer(Timer):  # type: ignore[misc]  # nameko is untyped
    """nameko's timer with its interval read at setup from a field of the service's own settings (tests run
    it every fraction of a second)."""

    def __init__(self, settings_class: type[BaseSettings], field: str, **kwargs: Any) -> None:
        self.settings_class = settings_class
        self.field = field
        super().__init__(interval=float(settings_class.model_fields[field].default), **kwargs)

    def setup(self) -> None:
        self.interval = float(getattr(own_settings(self.container, self.settings_class), self.field))
        super().setup()


def settings_timer(settings_class: type[BaseSettings], field: str, **kwargs: Any) -> Callable[..., Any]:
    """`@settings_timer(CaseworkSettings, "timer_interval_seconds")`: a timer entrypoint driven by settings."""
    decorator: Callable[..., Any] = SettingsTimer.decorator(settings_class, field, **kwargs)
    return decorator


class ContextData(DependencyProvider):  # type: ignore[misc]  # nameko is untyped
    """Injects a copy of the worker's context data: for RPC and events, who acted in which agency."""

    def get_dependency(self, worker_ctx: WorkerContext) -> dict[str, Any]:
        return dict(worker_ctx.context_data)


class AuditLog:
    """The worker's view of the service's audit trail: one typed call per entry (CJIS AU-3 fields)."""

    def __init__(self, service: str, session: Callable[[], Session]) -> None:
        self.service = service
        self._session = session

    def _fields(self, call: Call | None, action: str, resource_type: str, resource_id: str | None,
                detail: Mapping[str, Any] | None, outcome: str) -> dict[str, Any]:
        return {
            "service": self.service, "action": action, "outcome": outcome,
            "identity": call.identity if call else None, "resource_type": resource_type,
            "resource_id": resource_id, "source_ip": call.remote_addr if call else None,
            "request_id": call.request_id if call else None, "detail": dict(detail) if detail is not None else None,
        }

    def record(self, call: Call, action: str, resource_type: str, resource_id: str | None, *,
               detail: Mapping[str, Any] | None = None, outcome: str = "success") -> None:
        """An entry in the worker's transaction: it commits (or rolls back) with the change it records."""
        write_audit(self._session(), **self._fields(call, action, resource_type, resource_id, detail, outcome))

    def record_now(self, call: Call, action: str, resource_type: str, resource_id: str | None, *,
                   detail: Mapping[str, Any] | None = None, outcome: str = "success") -> None:
        """An entry in its own transaction, kept whatever happens to the request (reads, refusals)."""
        engine = self._session().get_bind()
        write_audit_now(engine, **self._fields(call, action, resource_type, resource_id, detail, outcome))  # type: ignore[arg-type]  # a Session's bind is the service's Engine

    def record_as(self, identity: Identity, action: str, resource_type: str, resource_id: str | None, *,
                  request_id: str | None = None, detail: Mapping[str, Any] | None = None,
                  outcome: str = "success") -> None:
        """An entry for work no API call asked for (an event handler, a timer), on behalf of `identity` (the
        acting user an event's context names, or the service itself), in the worker's transaction."""
        fields = self._fields(None, action, resource_type, resource_id, detail, outcome)
        write_audit(self._session(), **{**fields, "identity": identity, "request_id": request_id})


class Auditor(DependencyProvider):  # type: ignore[misc]  # nameko is untyped
    """Injects an `AuditLog` writing through the worker's database session (the service's `Database`)."""

    def setup(self) -> None:
        database = find_database(self.container)
        if database is None:
            raise RuntimeError(f"{self.container.service_name}: Auditor needs a `db = Database()` dependency")
        self.database = database

    def get_dependency(self, worker_ctx: WorkerContext) -> AuditLog:
        def session() -> Session:
            # The worker's session, created by the Database provider for this worker (whichever of the two
            # providers nameko asked first); the audit row joins its transaction.
            found = self.database.sessions.get(worker_ctx)
            if found is None:
                found = self.database.get_dependency(worker_ctx)
            return found

        return AuditLog(self.container.service_name, session)
