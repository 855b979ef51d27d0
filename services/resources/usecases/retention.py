"""What resources purges past retention besides the common tables: closed service referrals (ADR 0082).

A service referral in a final status (rejected, completed, cancelled, failed: `domain.referrals.TERMINAL`)
holds the participant's name, contacts and need; it is kept `service_referral.closed` days from its last
change, then goes with its history (deleted first and counted; the foreign key cascades too) and its
sealing mark. An open referral stays whatever its age. The case's caseload row (participant id and case
manager) goes in the same round when that round took the last referral of the case and the row itself has not
changed for as long: a case still running (reassigned since) keeps it, and so does a case that never had a
referral (nothing here tells resources such a case is over). The idempotency replies and outbox rows about a
referral are purged earlier by their own classes.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.orm import Session

from services.resources.domain.referrals import TERMINAL
from services.resources.models import CaseloadEntry, ServiceReferral, ServiceReferralHistory
from services.resources.usecases.sealing import CASE_KIND, REFERRAL_KIND
from shared.records import TABLES as RECORDS
from shared.records import unmark
from shared.retention import Schedule
from shared.upkeep import PurgeClass, PurgeHook

PURGE_CLASSES: tuple[PurgeClass, ...] = ()
CLOSED = "service_referral.closed"
BATCH = 500  # referrals per agency and round; the next round takes the rest
FINAL = sorted(status.value for status in TERMINAL)

Purged = list[tuple[str, str, str, int]]


def _count_or_delete(session: Session, table: Any, condition: ColumnElement[bool], dry_run: bool) -> int:
    if dry_run:
        return int(session.scalar(select(func.count()).select_from(table).where(condition)) or 0)
    return int(cast(Any, session.execute(delete(table).where(condition))).rowcount or 0)


def _marks(session: Session, agency: str, kind: str, ids: list[str], dry_run: bool) -> int:
    marks = RECORDS.marks
    if not ids:
        return 0
    found = int(session.scalar(select(func.count()).select_from(marks).where(
        marks.c.agency_id == agency, marks.c.kind == kind, marks.c.record_id.in_(ids))) or 0)
    if not dry_run:
        unmark(session, agency, kind, ids)
    return found


def _agency_round(session: Session, agency: str, cutoff: dt.datetime, dry_run: bool) -> dict[str, int]:
    ids = list(session.scalars(select(ServiceReferral.id).where(
        ServiceReferral.agency_id == agency, ServiceReferral.status.in_(FINAL), ServiceReferral.updated_at < cutoff)
        .order_by(ServiceReferral.updated_at, ServiceReferral.id).limit(BATCH)))
    if not ids:
        return {}
    cases = sorted(set(session.scalars(select(ServiceReferral.case_id).where(ServiceReferral.id.in_(ids)))))
    others = select(ServiceReferral.case_id).where(ServiceReferral.agency_id == agency,
                                                   ServiceReferral.case_id.in_(cases), ServiceReferral.id.not_in(ids))
    ended = sorted(set(cases) - set(session.scalars(others)))
    caseload = list(session.scalars(select(CaseloadEntry.case_id).where(
        CaseloadEntry.agency_id == agency, CaseloadEntry.case_id.in_(ended), CaseloadEntry.updated_at < cutoff)))
    counts = {
        "record_mark": _marks(session, agency, REFERRAL_KIND, ids, dry_run)
        + _marks(session, agency, CASE_KIND, caseload, dry_run),
        "service_referral_history": _count_or_delete(
            session, ServiceReferralHistory.__table__, ServiceReferralHistory.service_referral_id.in_(ids), dry_run),
        "service_referral": _count_or_delete(session, ServiceReferral.__table__, ServiceReferral.id.in_(ids), dry_run),
        "caseload_entry": _count_or_delete(session, CaseloadEntry.__table__, (CaseloadEntry.agency_id == agency)
                                           & CaseloadEntry.case_id.in_(caseload), dry_run) if caseload else 0,
    }
    return counts


def purge_referrals(session: Session, now: dt.datetime, schedule: Schedule, dry_run: bool) -> Purged:
    """Delete (or count) the closed service referrals past retention; (class, table, agency, rows)."""
    agencies = session.scalars(select(ServiceReferral.agency_id).distinct()).all()
    out: Purged = []
    for agency in sorted(agencies):
        counts = _agency_round(session, agency, schedule.cutoff(CLOSED, now, agency), dry_run)
        out.extend((CLOSED, table, agency, n) for table, n in sorted(counts.items()) if n)
    # Every table appears in the report, with 0 when nothing went (as the single-table classes do).
    return out + [(CLOSED, table, "", 0) for table in
                  ("caseload_entry", "record_mark", "service_referral", "service_referral_history")]


PURGE_HOOKS: tuple[PurgeHook, ...] = (purge_referrals,)
