"""What casework purges past retention (ADR 0082): the common tables, and closed and sealed cases.

A case with an outcome is kept `case.closed` days from its closing; a sealed one `case.sealed` days from its
sealing (the agency's pack decides both). Past that, the case and everything about it go, with the
participant when no other case of theirs remains: the same deletion as an erasure (usecases/sealing.py),
without tombstones (the inbox and outbox rows that could replay it are purged long before).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from services.casework.models import CaseRecord
from services.casework.usecases.sealing import CASE, delete_case
from shared.records import TABLES as RECORDS
from shared.retention import Schedule
from shared.upkeep import PurgeClass, PurgeHook

PURGE_CLASSES: tuple[PurgeClass, ...] = ()
CLOSED, SEALED = "case.closed", "case.sealed"
BATCH = 500  # cases per round; the next round takes the rest


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


Purged = list[tuple[str, str, str, int]]


def purge_cases(session: Session, now: dt.datetime, schedule: Schedule, dry_run: bool) -> Purged:
    """Delete (or count) the closed and sealed cases past retention; (class, table, agency, rows)."""
    marks = RECORDS.marks
    candidates = session.execute(
        select(CaseRecord.id, CaseRecord.agency_id, CaseRecord.closed_on, marks.c.marked_at)
        .outerjoin(marks, and_(marks.c.agency_id == CaseRecord.agency_id, marks.c.kind == CASE,
                               marks.c.record_id == CaseRecord.id))
        .where(CaseRecord.closed_on.is_not(None)).order_by(CaseRecord.closed_on, CaseRecord.id)).all()
    out: Purged = []
    done = 0
    for case_id, agency, closed_on, sealed_at in candidates:
        record_class, anchor = (SEALED, sealed_at) if sealed_at is not None else (CLOSED, _midnight(closed_on))
        if anchor >= schedule.cutoff(record_class, now, agency):
            continue
        if done >= BATCH:
            break
        done += 1
        if dry_run:
            out.append((record_class, "diversion_case", agency, 1))
            continue
        row = session.get(CaseRecord, case_id, with_for_update=True)
        if row is None:
            continue
        counts, _ids = delete_case(session, agency, row)
        out.extend((record_class, table, agency, count) for table, count in sorted(counts.items()) if count)
    return out


PURGE_HOOKS: tuple[PurgeHook, ...] = (purge_cases,)
