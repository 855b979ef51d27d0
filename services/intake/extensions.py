"""intake's own dependency providers (the shared ones are in `shared.extensions`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from nameko.extensions import DependencyProvider


class Clock(DependencyProvider):
    """Today and now for the review and sealing timers; a test sets `fixed` to move the day.

    It also holds the sealing ledger's metric (entries surfaced: retries spent, a service still silent).
    """

    def setup(self) -> None:
        from shared.metrics import metrics_for

        self.fixed: dt.datetime | None = None
        self.passes = 0  # review passes this instance has finished (tests wait on it instead of sleeping)
        self.ledger_passes = 0  # sealing ledger passes, likewise
        self.surfaced = metrics_for(self.container).counter(
            "sealing_requests_surfaced_total", "Sealing and erasure requests a service left unconfirmed after "
            "every retry", ("kind",))

    def now(self) -> dt.datetime:
        return self.fixed or dt.datetime.now(dt.UTC)

    def get_dependency(self, worker_ctx: Any) -> Clock:
        return self
