"""Erasing a referral on a legal order (ADR 0083): intake deletes every row it holds about the referral,
keeps only keyed tombstones, writes an erasure ledger entry and asks the other services to do the same.

A plain function `(session, ...)`; the caller commits the deletions, the tombstones, the ledger entry, the
event and the audit row in one transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any

from sqlalchemy import Column, delete, select
from sqlalchemy.orm import Session

from services.intake.models import Base, IdempotencyKey, Messaging, ReferralRow, SealingLedgerRow
from services.intake.usecases.sealing import REFERRAL, request_event, store_confirmed
from shared.messaging import Emit
from shared.records import buried, bury, digests, unmark

log = logging.getLogger(__name__)

SUBMISSION_SCOPE = "referrals.create"  # the idempotency scope whose stored response is the referral itself


class AlreadyErased(Exception):
    """The referral's tombstone is kept: it was erased before."""


class ReferralToEraseNotFound(Exception):
    """No such referral in the agency (and no tombstone of one)."""


def referral_children() -> list[tuple[str, Column[Any]]]:
    """Every table with a foreign key to `referral.id`, with that column (found from the models' metadata)."""
    children: list[tuple[str, Column[Any]]] = []
    for table in Base.metadata.sorted_tables:
        for key in table.foreign_keys:
            if key.column.table.name == ReferralRow.__tablename__ and key.column.name == "id":
                children.append((table.name, key.parent))
    return children


def delete_referral_rows(session: Session, key: bytes, agency: str, referral_id: str, case_id: str | None,
                         request_id: str, now: dt.datetime) -> dict[str, int]:
    """Delete the referral and every row about it and bury its tombstones; the rows deleted per table.
    Deleting what is absent counts 0, so `diversion sealing reapply` runs it again after a restore."""
    counts: dict[str, int] = {}
    tables = Base.metadata.tables
    for name, column in referral_children():
        counts[name] = session.execute(delete(tables[name]).where(column == referral_id)).rowcount  # type: ignore[attr-defined]
    counts[ReferralRow.__tablename__] = session.execute(delete(ReferralRow).where(
        ReferralRow.agency_id == agency, ReferralRow.id == referral_id)).rowcount  # type: ignore[attr-defined]
    outbox = Messaging.outbox
    counts["outbox"] = session.execute(delete(outbox).where(
        outbox.c.subject == referral_id, outbox.c.sent_at.is_not(None))).rowcount  # type: ignore[attr-defined]
    counts["idempotency_key"] = session.execute(delete(IdempotencyKey).where(
        IdempotencyKey.c.agency_id == agency, IdempotencyKey.c.scope == SUBMISSION_SCOPE,
        IdempotencyKey.c.response["id"].as_string() == referral_id)).rowcount  # type: ignore[attr-defined]
    unmark(session, agency, REFERRAL, [referral_id])
    bury(session, digests(key, agency, referral=referral_id, case=case_id), request_id, now)
    return counts


def erase_referral(session: Session, emit: Emit, key: bytes, agency: str, referral_id: str, *, basis: str,
                   now: dt.datetime) -> tuple[SealingLedgerRow, dict[str, int]]:
    """Delete the referral and every row about it, bury its tombstones, write the erasure ledger entry
    (intake confirmed) and emit `record.erasure_requested`. Returns the entry and the rows deleted per table."""
    if buried(session, digests(key, agency, referral=referral_id)):
        raise AlreadyErased(f"referral {referral_id} was erased already")
    row = session.scalar(select(ReferralRow).where(ReferralRow.agency_id == agency, ReferralRow.id == referral_id)
                         .with_for_update())
    if row is None:
        raise ReferralToEraseNotFound("no such referral")
    case_id = row.case_id
    request_id = str(uuid.uuid4())
    counts = delete_referral_rows(session, key, agency, referral_id, case_id, request_id, now)
    entry = SealingLedgerRow(request_id=request_id, agency_id=agency, kind="erasure", referral_id=referral_id,
                             case_id=case_id, pack_version=None, disposition=row.disposition, basis=basis,
                             seal_due_at=now, requested_at=now, confirmed="{}", retries=0, last_sent_at=now,
                             created_at=now)
    store_confirmed(entry, {"intake": now})
    session.add(entry)
    session.flush()
    emit(request_event(entry, attempt=1))
    log.info("referral %s erased under request %s", referral_id, request_id)
    return entry, counts
