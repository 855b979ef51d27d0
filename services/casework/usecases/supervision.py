"""The supervision sweep: overdue check-ins, silent cases and near program ends, each published once."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.casework.domain.lifecycle import OPEN_STATES, CaseState
from services.casework.domain.supervision import (
    CaseClock,
    Contact,
    ContactStatus,
    TimerHit,
    TimerKind,
    no_contact_cases,
    overdue_checkins,
    program_end_approaching,
)
from services.casework.mapping import contact_from_row
from services.casework.models import CaseRecord, ContactRecord, SupervisionAlert
from services.casework.settings import CaseworkSettings
from services.casework.usecases.common import SOURCE
from services.casework.usecases.staff import staff_subject
from shared.db import insert_for
from shared.messaging import Emit
from shared.messaging.catalog import CaseContactOverdue, CaseEndApproaching, CheckinOverdue, EventData
from shared.messaging.envelope import new_event


def _insert_ignoring_duplicate(session: Session, values: dict[str, Any]) -> bool:
    """Claim a dedup key; False when another sweep (or replica) already holds it."""
    statement = (insert_for(session)(SupervisionAlert).values(**values)
                 .on_conflict_do_nothing(index_elements=["dedup_key"]))
    return bool(session.execute(statement).rowcount)  # type: ignore[attr-defined]  # an INSERT executes to a CursorResult, which has rowcount; the stubs say Result


def _alert_event(
    hit: TimerHit, clock: CaseClock | None, contacts: dict[str, Contact], manager: str | None,
) -> EventData:
    if hit.kind is TimerKind.CHECKIN_OVERDUE:
        contact = contacts[str(hit.detail["contact_id"])]
        return CheckinOverdue(case_id=hit.case_id, checkin_id=contact.id, due_at=contact.scheduled_for)
    assert clock is not None
    if hit.kind is TimerKind.NO_CONTACT:
        return CaseContactOverdue(case_id=hit.case_id, case_manager=manager, last_contact_at=clock.last_contact_at,
                                  due_at=datetime.combine(hit.due, datetime.min.time(), tzinfo=UTC))
    assert clock.expected_end_date is not None
    return CaseEndApproaching(case_id=hit.case_id, case_manager=manager, expected_end=clock.expected_end_date,
                              days_left=max(int(hit.detail.get("days_left") or 0), 0))


def open_case_clocks(session: Session, agency: str | None = None) -> list[CaseClock]:
    last_contact = (
        select(ContactRecord.case_id, func.max(ContactRecord.completed_at).label("last"))
        .where(ContactRecord.status == ContactStatus.COMPLETED.value).group_by(ContactRecord.case_id).subquery()
    )
    statement = (
        select(CaseRecord, last_contact.c.last)
        .outerjoin(last_contact, last_contact.c.case_id == CaseRecord.id)
        .where(CaseRecord.state.in_([s.value for s in OPEN_STATES]))
    )
    if agency is not None:
        statement = statement.where(CaseRecord.agency_id == agency)
    return [
        CaseClock(case_id=row.id, agency_id=row.agency_id, state=CaseState(row.state),
                  case_manager_id=row.case_manager_id, start_date=row.start_date,
                  expected_end_date=row.expected_end_date, last_contact_at=last)
        for row, last in session.execute(statement).tuples()
    ]


def scheduled_contacts(session: Session, case_ids: Iterable[str]) -> list[Contact]:
    ids = list(case_ids)
    if not ids:
        return []
    rows = session.scalars(select(ContactRecord).where(
        ContactRecord.case_id.in_(ids), ContactRecord.status == ContactStatus.SCHEDULED.value))
    return [contact_from_row(r) for r in rows]


def supervision_sweep(session: Session, emit: Emit, settings: CaseworkSettings, now: datetime) -> int:
    """Find overdue check-ins, silent cases and near program ends; publish each situation once.

    The alert row (unique dedup key) and the outbox row are written in the caller's transaction: a
    second replica sweeping at the same moment waits on the key, then skips it.
    """
    clocks = open_case_clocks(session)
    by_case = {c.case_id: c for c in clocks}
    contacts = scheduled_contacts(session, by_case)
    by_contact = {c.id: c for c in contacts}
    hits = [
        *overdue_checkins(contacts, now=now, grace=timedelta(hours=settings.checkin_grace_hours)),
        *no_contact_cases(clocks, now=now, days=settings.no_contact_days),
        *program_end_approaching(clocks, now=now, within_days=settings.end_approaching_days),
    ]
    published = 0
    subjects: dict[tuple[str, str | None], str | None] = {}
    for hit in sorted(hits, key=lambda h: h.dedup_key):  # one order: replicas meet on keys, not deadlock
        clock = by_case.get(hit.case_id)
        manager_id = clock.case_manager_id if clock else None
        key = (hit.agency_id, manager_id)
        if key not in subjects:
            subjects[key] = staff_subject(session, hit.agency_id, manager_id)
        event = new_event(_alert_event(hit, clock, by_contact, subjects[key]), subject=hit.case_id,
                          tenantid=hit.agency_id, source=SOURCE)
        if _insert_ignoring_duplicate(session, {
            "dedup_key": hit.dedup_key, "agency_id": hit.agency_id, "kind": hit.kind.value,
            "case_id": hit.case_id, "event_id": event.id, "created_at": now,
        }):
            emit(event)
            published += 1
    return published
