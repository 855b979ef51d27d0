"""What every casework use case needs: the clock, the events' source and emitter, the closed-case guard."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from services.casework.domain import lifecycle
from services.casework.domain.lifecycle import CaseState
from services.casework.models import CaseRecord
from shared.messaging.catalog import EventData
from shared.messaging.envelope import CloudEvent, Emit, new_event, source_of

SOURCE = source_of("casework")


class Missing(Exception):
    """What the caller named is not there in its agency (or not within its reach): service.py maps it to 404."""


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
        self.held: list[CloudEvent[Any]] = []

    def collect(self, event: CloudEvent[Any]) -> None:
        self.held.append(event)

    def flush(self) -> None:
        for event in self.held:
            self.emit(event)
        self.held.clear()
