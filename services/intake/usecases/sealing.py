"""intake's sealing ledger (ADR 0083): the disposition that seals, the timer that starts, retries and
surfaces requests, the services' confirmations, and the ledger's reads.

Plain functions `(session, ...)` like the other use cases; the rules are in `domain/sealing_ledger.py`.
Events go to `emit` (the outbox) in the caller's transaction; the caller commits.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, and_, not_, or_, select
from sqlalchemy.orm import Session

from services.intake.domain import sealing_ledger as ledger
from services.intake.domain.sealing_ledger import CONFIRM_BOUND, MAX_RETRIES, SERVICES, LedgerEntry
from services.intake.models import SealingLedgerRow
from shared.messaging import Emit, new_event
from shared.messaging.catalog import RecordErasureRequested, RecordSealingRequested
from shared.records import seal
from shared.sealing import PACK_DIR, SealingError, load_pack

log = logging.getLogger(__name__)

REFERRAL = "referral"  # the record class intake seals (the same kind in every service's digests)
_NAMESPACE = uuid.UUID("6f1d3c52-5d5e-4c1b-9a51-0b8f0e3e2a83")


def sealing_request_id(agency: str, referral_id: str) -> str:
    """One sealing request per referral: the same id however often the disposition arrives."""
    return str(uuid.uuid5(_NAMESPACE, f"{agency}|sealing|{referral_id}"))


# ------------------------------------------------------------------------------------------ rows


def confirmed_of(row: SealingLedgerRow) -> dict[str, dt.datetime]:
    stored: dict[str, str] = json.loads(row.confirmed or "{}")
    return {service: dt.datetime.fromisoformat(at) for service, at in stored.items()}


def store_confirmed(row: SealingLedgerRow, confirmed: dict[str, dt.datetime]) -> None:
    row.confirmed = json.dumps({service: at.isoformat() for service, at in confirmed.items()}, sort_keys=True)


def entry_of(row: SealingLedgerRow) -> LedgerEntry | None:
    """The domain entry of a request that was sent (None: a sealing whose day has not come)."""
    if row.requested_at is None:
        return None
    return LedgerEntry(request_id=row.request_id, kind=row.kind, referral_id=row.referral_id,
                       pack_version=row.pack_version or "", requested_at=row.requested_at,
                       confirmed=confirmed_of(row), retries=row.retries, last_sent_at=row.last_sent_at)


def state_of(row: SealingLedgerRow, now: dt.datetime) -> str:
    entry = entry_of(row)
    return "pending" if entry is None else ledger.state(entry, now)


def _complete() -> ColumnElement[bool]:
    # `confirmed` is written by store_confirmed only (sorted JSON keys): a service is in it iff its key is.
    return and_(*(SealingLedgerRow.confirmed.contains(f'"{service}":') for service in SERVICES))


def state_clause(state: str, now: dt.datetime) -> ColumnElement[bool]:
    """SQL for `domain.sealing_ledger.state` (the API's ?state= filter), the same four answers."""
    if state == "complete":
        return _complete()
    open_ = not_(_complete())
    if state == "surfaced":
        return and_(open_, SealingLedgerRow.retries >= MAX_RETRIES)
    past = and_(SealingLedgerRow.requested_at.is_not(None), SealingLedgerRow.requested_at <= now - CONFIRM_BOUND)
    if state == "missing":
        return and_(open_, SealingLedgerRow.retries < MAX_RETRIES, past)
    return and_(open_, SealingLedgerRow.retries < MAX_RETRIES, not_(past))


# ------------------------------------------------------------------------------------------ sealing


def on_disposition(session: Session, emit: Emit, agency: str, referral_id: str, case_id: str | None,
                   disposition: str, decided_at: dt.datetime, now: dt.datetime, *,
                   packs: Path = PACK_DIR) -> SealingLedgerRow | None:
    """The referral's case ended with `disposition`: if the agency's pack seals it, the ledger entry (once
    per referral) and, when due already, the request. None: the pack does not seal it (or no pack)."""
    try:
        pack = load_pack(agency, packs)
    except SealingError as exc:
        log.info("no sealing for referral %s: %s", referral_id, exc)
        return None
    seal_at = pack.seal_at(disposition, decided_at)
    if seal_at is None:
        return None
    request_id = sealing_request_id(agency, referral_id)
    row = session.get(SealingLedgerRow, request_id, with_for_update=True)
    if row is not None:
        return row  # a redelivered disposition: the entry exists
    row = SealingLedgerRow(request_id=request_id, agency_id=agency, kind="sealing", referral_id=referral_id,
                           case_id=case_id, pack_version=pack.version, disposition=disposition, basis=None,
                           seal_due_at=seal_at, requested_at=None, confirmed="{}", retries=0, last_sent_at=None,
                           created_at=now)
    session.add(row)
    session.flush()
    if seal_at <= now:
        start(session, emit, row, now)
    return row


def start(session: Session, emit: Emit, row: SealingLedgerRow, now: dt.datetime) -> None:
    """Seal intake's own referral, confirm intake, and ask the other services (attempt 1)."""
    seal(session, row.agency_id, REFERRAL, [row.referral_id], row.request_id, now)
    row.requested_at = now
    row.last_sent_at = now
    store_confirmed(row, {**confirmed_of(row), "intake": now})
    emit(request_event(row, attempt=1))


def request_event(row: SealingLedgerRow, *, attempt: int) -> Any:
    assert row.requested_at is not None
    common = {"request_id": row.request_id, "referral_id": row.referral_id, "case_id": row.case_id,
              "requested_at": row.requested_at, "attempt": attempt}
    data: RecordSealingRequested | RecordErasureRequested
    if row.kind == "sealing":
        data = RecordSealingRequested(**common, disposition=row.disposition or "", pack_version=row.pack_version or "")
    else:
        data = RecordErasureRequested(**common, basis=row.basis or "")
    return new_event(data, subject=row.referral_id, tenantid=row.agency_id)


@dataclass
class LedgerPass:
    """What one timer pass did (request ids only)."""

    started: list[str] = field(default_factory=list)
    retried: list[str] = field(default_factory=list)
    surfaced: list[SealingLedgerRow] = field(default_factory=list)


def run_ledger(session: Session, emit: Emit, now: dt.datetime, *, limit: int = 200) -> LedgerPass:
    """One pass of the ledger timer: sealings whose day came are started, silent services past the bound are
    asked again (attempt+1, same request id), and an entry whose retries are spent is surfaced once. Rows are
    claimed with SKIP LOCKED, so several instances share the work and none sends twice."""
    done = LedgerPass()
    due = session.scalars(
        select(SealingLedgerRow)
        .where(SealingLedgerRow.requested_at.is_(None), SealingLedgerRow.seal_due_at <= now)
        .order_by(SealingLedgerRow.seal_due_at, SealingLedgerRow.request_id)
        .limit(limit).with_for_update(skip_locked=True)).all()
    for row in due:
        start(session, emit, row, now)
        done.started.append(row.request_id)
    silent = session.scalars(
        select(SealingLedgerRow)
        .where(SealingLedgerRow.requested_at.is_not(None), SealingLedgerRow.retries < MAX_RETRIES,
               or_(SealingLedgerRow.last_sent_at.is_(None), SealingLedgerRow.last_sent_at <= now - CONFIRM_BOUND),
               not_(_complete()))
        .order_by(SealingLedgerRow.last_sent_at, SealingLedgerRow.request_id)
        .limit(limit).with_for_update(skip_locked=True)).all()
    for row in silent:
        entry = entry_of(row)
        if entry is None or not ledger.due_for_retry(entry, now):
            continue
        after = ledger.retried(entry, now)
        row.retries, row.last_sent_at = after.retries, after.last_sent_at
        emit(request_event(row, attempt=after.retries + 1))
        done.retried.append(row.request_id)
        if ledger.surfaced(after):  # the last retry went out: from now on a person must look (once)
            log.warning("%s request %s surfaced: no confirmation from %s after %d retries", row.kind,
                        row.request_id, ", ".join(after.missing), after.retries)
            done.surfaced.append(row)
    return done


def confirm_service(session: Session, agency: str, request_id: str, service: str, at: dt.datetime) -> bool:
    """A service confirmed a request: the ledger keeps its (first) time. False: unknown request (logged)."""
    row = session.get(SealingLedgerRow, request_id[:100], with_for_update=True)
    if row is None or row.agency_id != agency:
        log.warning("confirmation of unknown request %s from %s ignored", request_id[:100], service)
        return False
    entry = entry_of(row)
    if entry is None:
        log.warning("confirmation from %s of request %s that was not sent yet ignored", service, request_id)
        return False
    after = ledger.confirm(entry, service, at)
    if after is entry:
        return False
    store_confirmed(row, after.confirmed)
    return True


# ------------------------------------------------------------------------------------------ reads


def ledger_entries(session: Session, agency: str, *, state: str | None, referral_id: str | None,
                   now: dt.datetime, after: ColumnElement[bool] | None, limit: int) -> list[SealingLedgerRow]:
    """Newest first, keyset-paginated on (created_at, request_id)."""
    statement = select(SealingLedgerRow).where(SealingLedgerRow.agency_id == agency)
    if state:
        statement = statement.where(state_clause(state, now))
    if referral_id:
        statement = statement.where(SealingLedgerRow.referral_id == referral_id)
    if after is not None:
        statement = statement.where(after)
    statement = statement.order_by(SealingLedgerRow.created_at.desc(), SealingLedgerRow.request_id.desc())
    return list(session.scalars(statement.limit(limit)))


def ledger_entry(session: Session, agency: str, request_id: str) -> SealingLedgerRow | None:
    return session.scalar(select(SealingLedgerRow).where(SealingLedgerRow.agency_id == agency,
                                                         SealingLedgerRow.request_id == request_id[:100]))


def ledger_document(row: SealingLedgerRow, now: dt.datetime) -> dict[str, Any]:
    """What the ledger API shows of an entry: ids, times and counts, never a name."""
    confirmed = confirmed_of(row)
    entry = entry_of(row)
    spent = ledger.elapsed(entry) if entry is not None else None
    return {
        "request_id": row.request_id, "kind": row.kind, "referral_id": row.referral_id, "case_id": row.case_id,
        "pack_version": row.pack_version, "disposition": row.disposition, "basis": row.basis,
        "seal_due_at": row.seal_due_at, "requested_at": row.requested_at,
        "services": {service: confirmed.get(service) for service in SERVICES},
        "missing": [service for service in SERVICES if service not in confirmed],
        "retries": row.retries, "state": state_of(row, now),
        "surfaced": entry is not None and ledger.surfaced(entry),
        "elapsed_seconds": spent.total_seconds() if spent is not None else None,
    }
