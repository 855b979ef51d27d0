"""A case's timeline: every event casework stores about the case, oldest first, one page at a time.

Each source is one function `(session, case) -> entries` in `SOURCES`; adding a source (hearings, payments)
is writing one such function and appending it to the list. Entries carry kinds, states and ids, not free
text (notes, incident descriptions): the timeline points to the record, which is read (and audited) on its own.

The entries of one case are few (hundreds), so they are merged and ordered here, and paged by the keyset
(at, source rank, source, id, kind) in a signed cursor (shared.http.pagination.Pager) like every other list.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.casework.domain.lifecycle import OPEN_STATES, TERMINAL_STATES, CaseState
from services.casework.models import (
    AppointmentRecord,
    Assessment,
    CaseAssignment,
    CaseRecord,
    ConditionRecord,
    ContactRecord,
    IncidentRecord,
    PlanVersion,
    Staff,
)
from services.casework.schemas_corrections import TimelineEntry
from services.casework.usecases import conditions
from shared.http import Call
from shared.http.pagination import Pager

Source = Callable[[Session, CaseRecord], Iterable[TimelineEntry]]


def _case(session: Session, case: CaseRecord) -> Iterable[TimelineEntry]:
    yield TimelineEntry(at=case.created_at, kind="case.opened", source="case", id=case.id,
                        summary=f"case {case.case_number} opened in program {case.program_id}",
                        detail={"referral_id": case.referral_id, "program_id": case.program_id})
    if CaseState(case.state) in TERMINAL_STATES:
        yield TimelineEntry(at=case.updated_at, kind=f"case.{case.state}", source="case", id=case.id,
                            summary=f"case {case.state}",
                            detail={"closed_on": case.closed_on.isoformat() if case.closed_on else None,
                                    "disposition": case.disposition, "termination_reason": case.termination_reason})


def _assignments(session: Session, case: CaseRecord) -> Iterable[TimelineEntry]:
    for row in session.scalars(select(CaseAssignment).where(CaseAssignment.case_id == case.id)):
        yield TimelineEntry(at=row.assigned_at, kind="case.assigned", source="assignment", id=str(row.id),
                            summary="case manager assigned" if row.previous_case_manager_id is None
                            else "case manager reassigned",
                            detail={"case_manager_id": row.case_manager_id,
                                    "previous_case_manager_id": row.previous_case_manager_id,
                                    "assigned_by": row.assigned_by, "strategy": row.strategy})


def _awaiting_reassignment(session: Session, case: CaseRecord) -> Iterable[TimelineEntry]:
    """While the case manager is deactivated and the case open, it waits in the reassignment queue."""
    if case.case_manager_id is None or CaseState(case.state) not in OPEN_STATES:
        return
    member = session.scalar(select(Staff).where(Staff.agency_id == case.agency_id, Staff.id == case.case_manager_id))
    if member is not None and not member.active and member.deactivated_at is not None:
        yield TimelineEntry(at=member.deactivated_at, kind="case.awaiting_reassignment", source="assignment",
                            id=f"queue-{member.id}", summary="case manager deactivated; waiting for reassignment",
                            detail={"case_manager_id": member.id})


def _plans(session: Session, case: CaseRecord) -> Iterable[TimelineEntry]:
    for row in session.scalars(select(PlanVersion).where(PlanVersion.case_id == case.id)):
        # A plan version moved by a service referral's answer says so in `change` (service_referral_status).
        yield TimelineEntry(at=row.created_at, kind="plan.version", source="plan", id=str(row.version),
                            summary=f"support plan version {row.version} ({row.change})",
                            detail={"version": row.version, "change": row.change, "goals": len(row.goals),
                                    "updated_by": row.updated_by,
                                    "service_referral_ids": sorted({rid for goal in row.goals
                                                                    for rid in goal.get("service_referral_ids", [])})})


def _assessments(session: Session, case: CaseRecord) -> Iterable[TimelineEntry]:
    for row in session.scalars(select(Assessment).where(Assessment.case_id == case.id)):
        yield TimelineEntry(at=row.created_at, kind="assessment.recorded", source="assessment", id=row.id,
                            summary=f"needs assessment version {row.version}",
                            detail={"version": row.version, "assessed_on": row.assessed_on.isoformat()})


def _conditions(session: Session, case: CaseRecord) -> Iterable[TimelineEntry]:
    for row in session.scalars(select(ConditionRecord).where(ConditionRecord.case_id == case.id)):
        yield TimelineEntry(at=row.created_at, kind="condition.added", source="condition", id=row.id,
                            summary=f"condition added ({row.kind})", detail={"kind": row.kind, "met": row.met})


_LEDGER_SUMMARIES = {"condition.payment": "payment recorded", "condition.hours": "community-service hours recorded",
                     "condition.edited": "condition edited", "condition.waived": "condition waived"}


def _condition_ledgers(session: Session, case: CaseRecord) -> Iterable[TimelineEntry]:
    """Payments, hours, edits and waivers (usecases.conditions); their descriptions and reasons are read there."""
    for item in conditions.timeline_items(session, case.id):
        yield TimelineEntry(at=item.occurred_at, kind=item.kind, source="condition", id=item.condition_id,
                            summary=_LEDGER_SUMMARIES.get(item.kind, item.kind),
                            detail={"condition_id": item.condition_id})


def _contacts(session: Session, case: CaseRecord) -> Iterable[TimelineEntry]:
    for row in session.scalars(select(ContactRecord).where(ContactRecord.case_id == case.id)):
        yield TimelineEntry(at=row.scheduled_for, kind=f"contact.{row.status}", source="contact", id=row.id,
                            summary=f"{row.kind} {row.status}", detail={"kind": row.kind, "status": row.status})
        if row.completed_at is not None and row.status == "completed":
            yield TimelineEntry(at=row.completed_at, kind="contact.made", source="contact", id=row.id,
                                summary=f"{row.kind} made", detail={"kind": row.kind})


def _appointments(session: Session, case: CaseRecord) -> Iterable[TimelineEntry]:
    for row in session.scalars(select(AppointmentRecord).where(AppointmentRecord.case_id == case.id)):
        yield TimelineEntry(at=row.starts_at, kind=f"appointment.{row.status}", source="appointment", id=row.id,
                            summary=f"{row.kind} appointment {row.status}",
                            detail={"kind": row.kind, "status": row.status,
                                    "service_referral_id": row.service_referral_id})


def _incidents(session: Session, case: CaseRecord) -> Iterable[TimelineEntry]:
    for row in session.scalars(select(IncidentRecord).where(IncidentRecord.case_id == case.id)):
        yield TimelineEntry(at=row.created_at, kind="incident.recorded", source="incident", id=row.id,
                            summary=f"incident ({row.kind}), response {row.response}",
                            detail={"kind": row.kind, "occurred_on": row.occurred_on.isoformat(),
                                    "response": row.response, "suggested_response": row.suggested_response})


# One function per kind of record; a new source (hearings, payments) is one more function here.
SOURCES: list[Source] = [_case, _assignments, _awaiting_reassignment, _plans, _assessments, _conditions,
                         _condition_ledgers, _contacts, _appointments, _incidents]


# At the same instant (a case opened and assigned in one transaction) entries follow how a case unfolds.
SOURCE_RANK = {name: rank for rank, name in enumerate(
    ("case", "assignment", "plan", "assessment", "condition", "contact", "appointment", "incident"))}


def _key(entry: TimelineEntry) -> tuple[datetime, int, str, str, str]:
    return (entry.at, SOURCE_RANK.get(entry.source, len(SOURCE_RANK)), entry.source, entry.id, entry.kind)


def entries(session: Session, case: CaseRecord, sources: Iterable[Source] = SOURCES) -> list[TimelineEntry]:
    """Every entry of the case, oldest first (ties by source rank, source, record id and kind: a total order)."""
    return sorted((entry for source in sources for entry in source(session, case)), key=_key)


def timeline(session: Session, call: Call, case: CaseRecord) -> tuple[list[TimelineEntry], str | None]:
    """One page of the case's timeline and the next page's cursor."""
    pager = Pager(call, "at", "rank", "source", "id", "kind")  # the keyset's names; the cursor carries their values
    ordered = entries(session, case)
    if pager.after is not None:
        after = pager.after
        ordered = [entry for entry in ordered if _key(entry) > after]
    return pager.page(ordered[: pager.fetch], key=_key)
