"""Sealed and erased records in each service's own database (issue 16 items 2 and 4; ADR 0083).

Two tables every service adds to its metadata, as it adds the messaging tables:

- `record_mark`: one row per record a sealing request closed (`kind` names the record class: `referral`,
  `case`, `participant`, `service_referral`, `contact`, ...). Queries for ordinary roles leave marked rows
  out (`unsealed`), single reads answer 404 as if absent (`guard_read`), and a records officer opens one
  only with a RSMo 610.120 code in `X-Legal-Basis`, each opening audited.
- `tombstone`: the keyed HMAC (`shared.sealing.tombstone`) of each identifier of an erased person. The rows
  are deleted; the digest stays, so a creating handler refuses an old event (`buried`) and nothing readable
  is kept.

In `services/<name>/models.py`: `RECORDS = add_record_tables(Base.metadata)`; in a migration:
`create_record_tables(op)` / `drop_record_tables(op)`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, ColumnElement, MetaData, PrimaryKeyConstraint, String, Table, select
from sqlalchemy.orm import Session

from shared.sealing import RECORDS_OFFICER, LegalBasisProblem, legal_basis, tombstone
from shared.timestamps import UtcDateTime

RECORD_MARK = "record_mark"
TOMBSTONE = "tombstone"
SEALED = "sealed"


def _mark_columns() -> list[Any]:
    return [
        Column("agency_id", String(63), nullable=False),
        Column("kind", String(40), nullable=False),
        Column("record_id", String(100), nullable=False),
        Column("mark", String(20), nullable=False),
        Column("request_id", String(100), nullable=False),
        Column("marked_at", UtcDateTime(), nullable=False),
        PrimaryKeyConstraint("agency_id", "kind", "record_id", name="pk_record_mark"),
    ]


def _tombstone_columns() -> list[Any]:
    return [
        Column("digest", String(64), primary_key=True),
        Column("request_id", String(100), nullable=False),
        Column("buried_at", UtcDateTime(), nullable=False),
    ]


@dataclass(frozen=True)
class RecordTables:
    marks: Table
    tombstones: Table


def add_record_tables(metadata: MetaData) -> RecordTables:
    return RecordTables(Table(RECORD_MARK, metadata, *_mark_columns()),
                        Table(TOMBSTONE, metadata, *_tombstone_columns()))


TABLES = add_record_tables(MetaData())  # the statements below; every service's tables look the same


def create_record_tables(op: Any) -> None:
    op.create_table(RECORD_MARK, *_mark_columns())
    op.create_table(TOMBSTONE, *_tombstone_columns())


def drop_record_tables(op: Any) -> None:
    op.drop_table(TOMBSTONE)
    op.drop_table(RECORD_MARK)


# -- sealing -----------------------------------------------------------------------------------------


def seal(session: Session, agency: str, kind: str, record_ids: Iterable[str], request_id: str,
         now: datetime) -> int:
    """Mark these records sealed; returns how many were not sealed before (a redelivery marks 0)."""
    wanted = sorted(set(record_ids))
    if not wanted:
        return 0
    marks = TABLES.marks
    already = set(session.scalars(select(marks.c.record_id).where(
        marks.c.agency_id == agency, marks.c.kind == kind, marks.c.record_id.in_(wanted))))
    fresh = [record_id for record_id in wanted if record_id not in already]
    if fresh:
        session.execute(marks.insert(), [
            {"agency_id": agency, "kind": kind, "record_id": record_id, "mark": SEALED, "request_id": request_id,
             "marked_at": now} for record_id in fresh])
    return len(fresh)


def is_sealed(session: Session, agency: str, kind: str, record_id: str) -> bool:
    marks = TABLES.marks
    return session.scalar(select(marks.c.record_id).where(
        marks.c.agency_id == agency, marks.c.kind == kind, marks.c.record_id == record_id)) is not None


def sealed_ids(session: Session, agency: str, kind: str, record_ids: Iterable[str]) -> set[str]:
    wanted = list(set(record_ids))
    if not wanted:
        return set()
    marks = TABLES.marks
    return set(session.scalars(select(marks.c.record_id).where(
        marks.c.agency_id == agency, marks.c.kind == kind, marks.c.record_id.in_(wanted))))


def unsealed(column: Any, agency: str, kind: str) -> ColumnElement[bool]:
    """A WHERE clause for lists and searches: the row's id (`column`) is not sealed in this agency."""
    marks = TABLES.marks
    clause: ColumnElement[bool] = column.not_in(
        select(marks.c.record_id).where(marks.c.agency_id == agency, marks.c.kind == kind))
    return clause


def unmark(session: Session, agency: str, kind: str, record_ids: Iterable[str]) -> None:
    """Drop the marks of deleted rows (erasure): the tombstone takes their place."""
    wanted = list(set(record_ids))
    if wanted:
        marks = TABLES.marks
        session.execute(marks.delete().where(marks.c.agency_id == agency, marks.c.kind == kind,
                                             marks.c.record_id.in_(wanted)))


class SealedRecord(Exception):
    """A sealed record asked for by a role that may not see it: answered 404, as if absent."""


def guard_read(session: Session, roles: frozenset[str], header: str | None, agency: str, kind: str,
               record_id: str) -> str | None:
    """Whether this caller may read this record: None (not sealed), the 610.120 code a records officer
    named (sealed; the caller audits the opening with it), or SealedRecord / LegalBasisProblem."""
    if not is_sealed(session, agency, kind, record_id):
        return None
    if RECORDS_OFFICER not in roles:
        raise SealedRecord(f"{kind} {record_id} not found")
    return legal_basis(roles, header)


def may_list_sealed(roles: frozenset[str], header: str | None) -> str | None:
    """A records officer naming a legal basis sees sealed rows in lists too; everyone else does not."""
    if RECORDS_OFFICER not in roles or header is None:
        return None
    try:
        return legal_basis(roles, header)
    except LegalBasisProblem:
        return None


# -- erasure -----------------------------------------------------------------------------------------


def bury(session: Session, digests: Iterable[str], request_id: str, now: datetime) -> int:
    """Keep these tombstones (a second burial of the same digest is a no-op); returns how many are new."""
    wanted = sorted(set(digests))
    if not wanted:
        return 0
    stones = TABLES.tombstones
    already = set(session.scalars(select(stones.c.digest).where(stones.c.digest.in_(wanted))))
    fresh = [digest for digest in wanted if digest not in already]
    if fresh:
        session.execute(stones.insert(), [{"digest": digest, "request_id": request_id, "buried_at": now}
                                          for digest in fresh])
    return len(fresh)


def buried(session: Session, digests: Iterable[str]) -> bool:
    """Whether any of these digests is a tombstone: the event is about an erased person."""
    wanted = list(set(digests))
    if not wanted:
        return False
    stones = TABLES.tombstones
    return session.scalar(select(stones.c.digest).where(stones.c.digest.in_(wanted)).limit(1)) is not None


def digests(key: bytes, agency: str, **identifiers: str | None) -> list[str]:
    """The tombstones of the identifiers given (`referral=..., case=..., participant=...`), None skipped."""
    return [tombstone(key, agency, kind, value) for kind, value in sorted(identifiers.items()) if value]


def tombstone_key(signing_key: bytes) -> bytes:
    """The tombstone HMAC key, derived from the deployment's message signing key (every service has it;
    it is backed up apart from the databases, ADR 0084)."""
    import hashlib
    import hmac

    return hmac.new(signing_key, b"diversion tombstone key v1", hashlib.sha256).digest()
