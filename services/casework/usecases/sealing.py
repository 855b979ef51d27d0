"""Sealing and erasure of a case and its participant (issue 16 items 2 and 4; ADR 0083).

- `seal_case` marks the case (kind `case`) and, once every case of its participant record is sealed, the
  participant (kind `participant`); reads for ordinary roles then answer 404 (`api.base.CaseworkBase`).
- `erase_case` deletes the case, every row about it and (when no other case of it remains) the participant
  record with its rows, the marks, the sent outbox rows about any of those ids and the idempotency keys
  holding their first answers; it keeps the keyed tombstones (`referral`, `case`, `participant`) that every
  creating handler checks first (`refused`).

Both confirm through the outbox in the caller's transaction, every time (a retry confirms again, counts 0).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Table, delete, select, update
from sqlalchemy.orm import Session

from services.casework.models import Base, CaseRecord, ConditionRecord, ConsentRecord, Participant, ParticipantLink
from services.casework.usecases.common import emit_data
from shared.messaging import Emit
from shared.messaging.catalog import (
    CaseworkErasureConfirmed,
    CaseworkSealingConfirmed,
    RecordErasureRequested,
    RecordSealingRequested,
)
from shared.messaging.tables import TABLES as MESSAGING
from shared.records import buried, bury, digests, seal, sealed_ids, unmark

log = logging.getLogger(__name__)

CASE, PARTICIPANT, REFERRAL = "case", "participant", "referral"
SERVICE = "casework"
# Tables about a case or a participant that name it by a plain column (no foreign key): table, column, kind.
LOOSE_COLUMNS = (("supervision_alert", "case_id", CASE), ("disclosure_record", "case_id", CASE),
                 ("disclosure_record", "participant_id", PARTICIPANT),
                 ("disclosure_log", "participant_id", PARTICIPANT),
                 ("participant_link", "participant_id", PARTICIPANT))


def find_case(session: Session, agency: str, case_id: str | None, referral_id: str) -> CaseRecord | None:
    """The case a request names: by its id, else by the referral it was opened from."""
    if case_id:
        row = session.scalar(select(CaseRecord).where(CaseRecord.agency_id == agency, CaseRecord.id == case_id)
                             .with_for_update())
        if row is not None:
            return row
    return session.scalar(select(CaseRecord).where(CaseRecord.agency_id == agency,
                                                   CaseRecord.referral_id == referral_id).with_for_update())


def _cases_of(session: Session, agency: str, participant_id: str) -> list[str]:
    return list(session.scalars(select(CaseRecord.id).where(CaseRecord.agency_id == agency,
                                                            CaseRecord.participant_id == participant_id)))


# ---------------------------------------------------------------- sealing


def seal_case(session: Session, emit: Emit, agency: str, request: RecordSealingRequested,
              now: datetime) -> dict[str, int]:
    """Seal the case and (when all its cases are sealed) its participant; confirm with the new marks."""
    counts = {CASE: 0, PARTICIPANT: 0}
    row = find_case(session, agency, request.case_id, request.referral_id)
    if row is not None:
        counts[CASE] = seal(session, agency, CASE, [row.id], request.request_id, now)
        others = set(_cases_of(session, agency, row.participant_id))
        if sealed_ids(session, agency, CASE, others) == others:
            counts[PARTICIPANT] = seal(session, agency, PARTICIPANT, [row.participant_id], request.request_id, now)
    else:  # the case may never have opened here (declined, or not yet delivered): nothing to seal
        log.info("sealing request %s names no case here; confirming with nothing sealed", request.request_id)
    emit_data(emit, CaseworkSealingConfirmed(request_id=request.request_id, referral_id=request.referral_id,
                                             service=SERVICE, counts=counts, confirmed_at=now),
              subject=request.request_id, agency=agency)
    return counts


# ---------------------------------------------------------------- erasure


def _tables_about(kind_target: str) -> list[tuple[Table, Column[str]]]:
    """Every table with a foreign key to `diversion_case.id` or `participant.id` (children first)."""
    found = []
    for table in reversed(Base.metadata.sorted_tables):
        for column in table.columns:
            if any(fk.target_fullname == kind_target for fk in column.foreign_keys):
                found.append((table, column))
    return found


def _delete_where(session: Session, counts: dict[str, int], table: Table, column: Any, ids: Iterable[str]) -> None:
    wanted = sorted(set(ids))
    result = session.execute(delete(table).where(column.in_(wanted))) if wanted else None
    counts[table.name] = counts.get(table.name, 0) + int(getattr(result, "rowcount", 0) or 0)


def _reroot_person(session: Session, agency: str, person: Participant) -> None:
    """The erased record was the first of a linked person (ADR 0071): the next oldest carries the person on."""
    if person.person_id is not None:
        return
    others = list(session.scalars(select(Participant).where(Participant.agency_id == agency,
                                                            Participant.person_id == person.id)
                                  .order_by(Participant.created_at, Participant.id)))
    if not others:
        return
    successor = others[0]
    successor.person_id = None
    for record in others[1:]:
        record.person_id = successor.id
    session.execute(update(ParticipantLink).where(ParticipantLink.agency_id == agency,
                                                  ParticipantLink.person_id == person.id)
                    .values(person_id=successor.id))
    session.flush()


def _zero_counts() -> dict[str, int]:
    """Every table erasure may delete from, at 0 (the confirmation names them all, a retry with zeros)."""
    names = [t.name for t, _ in [*_tables_about("diversion_case.id"), *_tables_about("participant.id")]]
    names += [name for name, _, _ in LOOSE_COLUMNS]
    names += ["diversion_case", "participant", "change_history", "idempotency_key", "outbox", "record_mark"]
    return dict.fromkeys(sorted(set(names)), 0)


def _child_ids(session: Session, case_id: str, person_ids: list[str]) -> tuple[set[str], list[str]]:
    """The ids of the rows about the case (they name outbox subjects) and the idempotency scopes of them."""
    ids: set[str] = set()
    for table, column in _tables_about("diversion_case.id"):
        if "id" in table.c:
            ids.update(str(i) for i in session.scalars(select(table.c.id).where(column == case_id)))
    conditions = list(session.scalars(select(ConditionRecord.id).where(ConditionRecord.case_id == case_id)))
    ids.update(session.scalars(select(ConsentRecord.id).where(ConsentRecord.participant_id.in_(person_ids))))
    scopes = [f"{kind}:{case_id}" for kind in ("assessment", "condition", "contact", "appointment", "incident")]
    scopes += [f"{kind}:{cid}" for cid in conditions for kind in ("payment", "hours")]
    scopes += [f"consent:{pid}" for pid in person_ids]
    return ids, scopes


def _erase_rows(session: Session, agency: str, row: CaseRecord, person: Participant | None,
                counts: dict[str, int]) -> set[str]:
    """Delete the case's rows (and the participant's when `person`); the ids whose outbox rows go too."""
    tables = Base.metadata.tables
    case_ids, person_ids = [row.id], ([person.id] if person is not None else [])
    child_ids, scopes = _child_ids(session, row.id, person_ids)
    _delete_where(session, counts, tables["idempotency_key"], tables["idempotency_key"].c.scope, scopes)
    if person is not None:
        _reroot_person(session, agency, person)
        session.expunge(person)
    session.expunge(row)
    for table, column in _tables_about("diversion_case.id"):
        _delete_where(session, counts, table, column, case_ids)
    for name, column_name, kind in LOOSE_COLUMNS:
        _delete_where(session, counts, tables[name], tables[name].c[column_name],
                      case_ids if kind == CASE else person_ids)
    _delete_where(session, counts, tables["diversion_case"], tables["diversion_case"].c.id, case_ids)
    if person_ids:
        history = tables["change_history"]
        _delete_where(session, counts, history, history.c.resource_id, person_ids)
        for table, column in _tables_about("participant.id"):
            if table.name != "diversion_case":
                _delete_where(session, counts, table, column, person_ids)
        _delete_where(session, counts, tables["participant"], tables["participant"].c.id, person_ids)
    counts["record_mark"] = (len(sealed_ids(session, agency, CASE, case_ids))
                             + len(sealed_ids(session, agency, PARTICIPANT, person_ids)))
    unmark(session, agency, CASE, case_ids)
    unmark(session, agency, PARTICIPANT, person_ids)
    return {row.id, *person_ids, *child_ids}


def delete_case(session: Session, agency: str, row: CaseRecord) -> tuple[dict[str, int], set[str]]:
    """Delete the case's rows, and its participant's when no other case remains (erasure, and the records
    purge of closed and sealed cases past retention); the rows deleted per table and the ids deleted."""
    counts = _zero_counts()
    last_case = set(_cases_of(session, agency, row.participant_id)) == {row.id}
    person = session.get(Participant, row.participant_id) if last_case else None
    subjects = _erase_rows(session, agency, row, person, counts)
    outbox = MESSAGING.outbox
    sent = session.execute(delete(outbox).where(outbox.c.subject.in_(sorted(subjects)), outbox.c.sent_at.is_not(None)))
    counts["outbox"] = int(getattr(sent, "rowcount", 0) or 0)
    return counts, subjects


def erase_case(session: Session, emit: Emit, agency: str, request: RecordErasureRequested, key: bytes,
               now: datetime) -> dict[str, int]:
    """Delete everything about the case (and its participant when no other case remains), keep tombstones and
    confirm with the rows deleted per table (0 everywhere on a retry)."""
    counts = _zero_counts()
    row = find_case(session, agency, request.case_id, request.referral_id)
    subjects = {request.referral_id}
    case_id, participant_id = request.case_id, None
    if row is not None:
        case_id = row.id
        last_case = set(_cases_of(session, agency, row.participant_id)) == {row.id}
        person = session.get(Participant, row.participant_id) if last_case else None
        participant_id = person.id if person is not None else None  # kept (and not buried) while a case remains
        subjects |= _erase_rows(session, agency, row, person, counts)
    else:
        log.info("erasure request %s names no case here; keeping its tombstones", request.request_id)
        subjects |= {case_id} if case_id else set()
    outbox = MESSAGING.outbox
    sent = session.execute(delete(outbox).where(outbox.c.subject.in_(sorted(subjects)), outbox.c.sent_at.is_not(None)))
    counts["outbox"] = int(getattr(sent, "rowcount", 0) or 0)
    bury(session, digests(key, agency, referral=request.referral_id, case=case_id, participant=participant_id),
         request.request_id, now)
    emit_data(emit, CaseworkErasureConfirmed(request_id=request.request_id, referral_id=request.referral_id,
                                             service=SERVICE, counts=counts, confirmed_at=now),
              subject=request.request_id, agency=agency)
    return counts


# ---------------------------------------------------------------- the creating handlers' check


def refused(session: Session, key: bytes, agency: str, event_id: str, *, referral: str | None = None,
            case: str | None = None, participant: str | None = None) -> bool:
    """Is the event about an erased person (a tombstone of one of its ids)? Logged with the event id only."""
    if buried(session, digests(key, agency, referral=referral, case=case, participant=participant)):
        log.warning("event %s is about erased records; acknowledged without creating anything", event_id)
        return True
    return False
