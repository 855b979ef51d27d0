"""casework's dependency providers: the call's context, its settings, and the supervision timer."""

from __future__ import annotations

from typing import Any

from nameko.containers import WorkerContext
from nameko.extensions import DependencyProvider
from nameko.timer import Timer

from services.casework.settings import CaseworkSettings, casework_settings
from shared.messaging.metrics import register_service_metrics


class CallContext(DependencyProvider):
    """The worker's context data: for RPC, the caller's identity (`agency`, `sub`, `roles`)."""

    def get_dependency(self, worker_ctx: WorkerContext) -> dict[str, Any]:
        return dict(worker_ctx.data)


class SettingsProvider(DependencyProvider):
    def setup(self) -> None:
        self.settings = casework_settings(self.container.config)
        # The outbox relay and the event handlers both register the messaging metrics when they start,
        # concurrently; registering first here (no I/O, so no green-thread switch) avoids their race.
        register_service_metrics(self.container.service_name, None, None)

    def get_dependency(self, worker_ctx: WorkerContext) -> CaseworkSettings:
        return self.settings


class SupervisionTimer(Timer):
    """nameko's timer with its interval from `DIVERSION_CASEWORK_TIMER_INTERVAL_SECONDS`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(interval=300.0, **kwargs)

    def setup(self) -> None:
        self.interval = casework_settings(self.container.config).timer_interval_seconds


supervision_timer = SupervisionTimer.decorator
