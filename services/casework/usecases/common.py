"""What every casework use case needs: the clock, the event emitter and the closed-case guard."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from services.casework.domain import lifecycle
from services.casework.domain.lifecycle import CaseState
from services.casework.models import CaseRecord
from shared.messaging.catalog import EventData
from shared.messaging.envelope import CloudEvent, new_event, source_of

Emit = Callable[[CloudEvent], None]
SOURCE = source_of("casework")


def utcnow() -> datetime:
    return datetime.now(UTC)


def emit_data(emit: Emit, data: EventData, *, subject: str, agency: str) -> None:
    emit(new_event(data, subject=subject, tenantid=agency, source=SOURCE))


def require_open(case: CaseRecord) -> None:
    """Nothing new is recorded on a closed case (the domain's CaseClosed)."""
    lifecycle.require_open(CaseState(case.state))


class EmitSlot:
    """Holds events back so another event can be recorded before them."""

    def __init__(self, emit: Emit) -> None:
        self.emit = emit
        self.held: list[CloudEvent] = []

    def collect(self, event: CloudEvent) -> None:
        self.held.append(event)

    def flush(self) -> None:
        for event in self.held:
            self.emit(event)
        self.held.clear()
