"""intake's own dependency providers (the shared ones are in `shared.extensions`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from nameko.extensions import DependencyProvider


class Clock(DependencyProvider):
    """Today and now for the review timer; a test sets `fixed` to move the day."""

    def setup(self) -> None:
        self.fixed: dt.datetime | None = None
        self.passes = 0  # review passes this instance has finished (tests wait on it instead of sleeping)

    def now(self) -> dt.datetime:
        return self.fixed or dt.datetime.now(dt.UTC)

    def get_dependency(self, worker_ctx: Any) -> Clock:
        return self
