"""Sealing and erasure survive a restore (ADR 0084): the ledger is exported apart from the databases and,
after a restore, every decision it holds is applied again.

`export_ledger` gives the ledger as plain dicts (ids, codes and times: no personal data); `import_ledger`
brings back entries a restored intake database lost; `reapply` seals or erases intake's own rows again and
asks every service again (a new attempt of the same request id). The services' handlers are idempotent by
content: marking twice adds nothing, deleting absent rows counts 0, and each confirms again.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.intake.models import SealingLedgerRow
from services.intake.usecases.erasure import delete_referral_rows
from services.intake.usecases.sealing import REFERRAL, request_event
from shared.messaging import Emit
from shared.records import seal

_COLUMNS = ("request_id", "agency_id", "kind", "referral_id", "case_id", "pack_version", "disposition", "basis",
            "seal_due_at", "requested_at", "confirmed", "retries", "last_sent_at", "created_at")
_TIMES = frozenset({"seal_due_at", "requested_at", "last_sent_at", "created_at"})
MAX_ATTEMPT = 100  # the catalog's bound on `attempt`


class LedgerFileError(ValueError):
    """A line of a ledger export that cannot be imported; the message names the line and the field."""


@dataclass
class ReapplyReport:
    sealings: int = 0
    erasures: int = 0
    imported: int = 0
    intake_resealed: int = 0
    intake_deleted: dict[str, int] = field(default_factory=dict)


def export_ledger(session: Session, agency: str | None = None) -> list[dict[str, Any]]:
    query = select(SealingLedgerRow).order_by(SealingLedgerRow.created_at, SealingLedgerRow.request_id)
    if agency is not None:
        query = query.where(SealingLedgerRow.agency_id == agency)
    return [{name: _plain(getattr(row, name)) for name in _COLUMNS} for row in session.scalars(query)]


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.datetime) else value


def import_ledger(session: Session, entries: list[dict[str, Any]]) -> int:
    """Add the exported entries this ledger lacks (a restored intake database); returns how many."""
    added = 0
    for number, entry in enumerate(entries, 1):
        try:
            values = {name: entry.get(name) for name in _COLUMNS}
            for name in _TIMES:
                if values[name] is not None:
                    values[name] = dt.datetime.fromisoformat(str(values[name]))
            if values["kind"] not in ("sealing", "erasure") or not values["request_id"]:
                raise ValueError(f"kind {values['kind']!r} / request_id {values['request_id']!r}")
            row = SealingLedgerRow(**values)
        except (TypeError, ValueError) as exc:
            raise LedgerFileError(f"entry {number}: {exc}") from exc
        if session.get(SealingLedgerRow, row.request_id) is None:
            session.add(row)
            added += 1
    session.flush()
    return added


def reapply(session: Session, emit: Emit, key: bytes, now: dt.datetime, *, agency: str | None = None) -> ReapplyReport:
    """Apply every sent entry of the ledger again, in intake and (through `emit`) in every other service."""
    report = ReapplyReport()
    query = select(SealingLedgerRow).where(SealingLedgerRow.requested_at.is_not(None)).order_by(
        SealingLedgerRow.created_at, SealingLedgerRow.request_id).with_for_update()
    if agency is not None:
        query = query.where(SealingLedgerRow.agency_id == agency)
    for row in session.scalars(query):
        if row.kind == "sealing":
            report.sealings += 1
            report.intake_resealed += seal(session, row.agency_id, REFERRAL, [row.referral_id], row.request_id, now)
        else:
            report.erasures += 1
            deleted = delete_referral_rows(session, key, row.agency_id, row.referral_id, row.case_id,
                                           row.request_id, now)
            for table, count in deleted.items():
                report.intake_deleted[table] = report.intake_deleted.get(table, 0) + count
        row.last_sent_at = now
        emit(request_event(row, attempt=min(row.retries + 2, MAX_ATTEMPT)))
    return report
