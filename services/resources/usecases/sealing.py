"""Sealing and erasure in resources (issue 16 items 2 and 4; ADR 0083).

On `record.sealing_requested` every service referral of the case is marked sealed (kind `service_referral`)
and the case's caseload row too (kind `case`): reads for ordinary roles then answer 404 as if absent and
lists leave them out (`referrals.load`, `referrals.list_referrals`). A retry marks nothing new and confirms
again. On `record.erasure_requested` the case's referrals are deleted with every row that references them
(found through the models' foreign keys), the case's caseload row, the stored replies of their creation,
their marks and the sent outbox rows about them; keyed tombstones stay (`shared.records.bury`), so a
creating handler refuses an old event about the case (`is_buried`). Both confirm through the outbox in the
same transaction, with counts per record class and nothing personal.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, delete, or_, select
from sqlalchemy.orm import Session

from services.resources.models import Base, CaseloadEntry, IdempotencyKey, Messaging, ServiceReferral
from shared import records
from shared.messaging import Emit, new_event
from shared.messaging.catalog import (
    RecordErasureRequested,
    RecordSealingRequested,
    ResourcesErasureConfirmed,
    ResourcesSealingConfirmed,
)
from shared.sealing import tombstone

SERVICE = "resources"
REFERRAL_KIND = "service_referral"
CASE_KIND = "case"
CREATE_SCOPE = "service_referral.create"  # the stored replies of POST /v1/service-referrals


def _referral_ids(session: Session, agency: str, case_id: str | None) -> list[str]:
    if not case_id:
        return []
    return list(session.scalars(select(ServiceReferral.id).where(
        ServiceReferral.agency_id == agency, ServiceReferral.case_id == case_id).order_by(ServiceReferral.id)))


def _caseload_cases(session: Session, agency: str, case_id: str | None) -> list[str]:
    if not case_id:
        return []
    return list(session.scalars(select(CaseloadEntry.case_id).where(
        CaseloadEntry.agency_id == agency, CaseloadEntry.case_id == case_id)))


def seal_case(session: Session, emit: Emit, agency: str, request: RecordSealingRequested,
              now: dt.datetime) -> dict[str, int]:
    """Mark the case's service referrals and caseload row sealed; confirm with the new marks per kind."""
    counts = {
        REFERRAL_KIND: records.seal(session, agency, REFERRAL_KIND, _referral_ids(session, agency, request.case_id),
                                    request.request_id, now),
        CASE_KIND: records.seal(session, agency, CASE_KIND, _caseload_cases(session, agency, request.case_id),
                                request.request_id, now),
    }
    emit(new_event(ResourcesSealingConfirmed(
        request_id=request.request_id, referral_id=request.referral_id, service=SERVICE, counts=counts,
        confirmed_at=now), subject=request.referral_id, tenantid=agency))
    return counts


# -- erasure -----------------------------------------------------------------------------------------


def buried_digests(key: bytes, agency: str, *, case: str | None = None, participant: str | None = None,
                   referral: str | None = None) -> list[str]:
    return records.digests(key, agency, case=case, participant=participant, referral=referral)


def is_buried(session: Session, key: bytes, agency: str, *, case: str | None = None,
              participant: str | None = None) -> bool:
    """Whether an event or request about this case (or participant) names an erased person."""
    return records.buried(session, buried_digests(key, agency, case=case, participant=participant))


def _children(parent: Table) -> list[tuple[Table, Any]]:
    """Every table with a foreign key to `parent`'s primary key, and that key's column (sorted by name)."""
    found = []
    for table in Base.metadata.sorted_tables:
        for fk in table.foreign_keys:
            if fk.column.table is parent:
                found.append((table, fk.parent))
    return sorted(found, key=lambda pair: (pair[0].name, pair[1].name))


def _delete_tree(session: Session, table: Table, column: Any, ids: list[Any], counts: dict[str, int]) -> None:
    """Delete the rows of `table` whose `column` is one of `ids`, their children first (counted per table,
    0 for a table with nothing to delete)."""
    primary = list(table.primary_key.columns)
    children = _children(table) if len(primary) == 1 else []
    own = list(session.scalars(select(primary[0]).where(column.in_(ids)))) if ids and children else []
    for child, child_column in children:
        _delete_tree(session, child, child_column, own, counts)
    gone = int(cast(Any, session.execute(delete(table).where(column.in_(ids)))).rowcount or 0) if ids else 0
    counts[table.name] = counts.get(table.name, 0) + gone


def _sent_outbox(session: Session, subjects: list[str], named: list[str]) -> int:
    """Delete the sent outbox rows about these ids: by subject, or naming one of `named` (the referral ids)
    in the body, as the disclosure events do whose subject is the participant."""
    outbox = Messaging.outbox
    about: list[ColumnElement[bool]] = [outbox.c.subject.in_(subjects)] if subjects else []
    about += [outbox.c.body.contains(f'"{value}"') for value in named]
    if not about:
        return 0
    deleted = session.execute(delete(outbox).where(outbox.c.sent_at.is_not(None), or_(*about)))
    return int(cast(Any, deleted).rowcount or 0)


def _stored_replies(session: Session, agency: str, ids: list[str]) -> int:
    """The idempotency replies of these referrals' creation hold the referral as it was sent back."""
    if not ids:
        return 0
    key = IdempotencyKey
    deleted = session.execute(delete(key).where(
        key.c.agency_id == agency, key.c.scope == CREATE_SCOPE, key.c.response["id"].as_string().in_(ids)))
    return int(cast(Any, deleted).rowcount or 0)


def erase_case(session: Session, emit: Emit, key: bytes, agency: str, request: RecordErasureRequested,
               now: dt.datetime) -> dict[str, int]:
    """Delete what resources holds about the case, bury its identifiers, confirm with counts per table."""
    case_id = request.case_id
    ids = _referral_ids(session, agency, case_id)
    cases = [case_id] if case_id else []
    counts: dict[str, int] = {"record_mark": len(records.sealed_ids(session, agency, REFERRAL_KIND, ids))
                              + len(records.sealed_ids(session, agency, CASE_KIND, cases))}
    referral_table = cast(Table, ServiceReferral.__table__)
    _delete_tree(session, referral_table, referral_table.c.id, ids, counts)
    caseload = cast(Table, CaseloadEntry.__table__)
    deleted = session.execute(delete(caseload).where(caseload.c.agency_id == agency,
                                                     caseload.c.case_id == (case_id or "\x00")))
    counts[caseload.name] = int(cast(Any, deleted).rowcount or 0)
    counts["idempotency_key"] = _stored_replies(session, agency, ids)
    counts["outbox"] = _sent_outbox(session, [*ids, *cases], ids)
    records.unmark(session, agency, REFERRAL_KIND, ids)
    records.unmark(session, agency, CASE_KIND, cases)
    stones = buried_digests(key, agency, referral=request.referral_id, case=case_id)
    stones += [tombstone(key, agency, REFERRAL_KIND, value) for value in ids]
    counts["tombstone"] = records.bury(session, stones, request.request_id, now)
    emit(new_event(ResourcesErasureConfirmed(
        request_id=request.request_id, referral_id=request.referral_id, service=SERVICE, counts=counts,
        confirmed_at=now), subject=request.referral_id, tenantid=agency))
    return counts
