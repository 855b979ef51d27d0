"""Choosing and recording case managers: the agency's strategy, automatic and manual (re)assignment."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import func, null, select, type_coerce, union_all
from sqlalchemy.orm import Session

from services.casework.domain.assignment import (
    AssignmentRecord,
    AssignmentStrategy,
    CaseManager,
    ProgramNotServed,
    StaffLoad,
    UnknownStrategy,
    auto_assign,
    get_strategy,
    manual_assign,
    staff_loads,
)
from services.casework.domain.lifecycle import OPEN_STATES, Actor, CaseState
from services.casework.mapping import store_case, terms_of, to_case
from services.casework.models import AgencyConfig, CaseAssignment, CaseRecord, Staff
from services.casework.settings import CaseworkSettings
from services.casework.usecases.cases import emit_case_events
from shared.messaging import Emit

log = logging.getLogger(__name__)


def strategy_name_for(session: Session, agency: str, settings: CaseworkSettings) -> str:
    config = session.get(AgencyConfig, agency)
    return config.assignment_strategy if config else settings.assignment_strategy


def strategy_for(session: Session, agency: str, settings: CaseworkSettings) -> AssignmentStrategy:
    name = strategy_name_for(session, agency, settings)
    try:
        return get_strategy(name)
    except UnknownStrategy:
        # A plugin uninstalled after an agency chose it must not stop cases from opening.
        log.warning("assignment strategy %r is not installed; using least_caseload", name)
        return get_strategy("least_caseload")


def candidate_loads(session: Session, agency: str, *, lock: bool, only_case_managers: bool) -> list[StaffLoad]:
    """Active staff with their open caseloads. `lock` takes the agency's staff rows FOR UPDATE so two
    concurrent assignments (two replicas) cannot both fill the last free place: the loads are read after the
    lock is held (a statement of their own), so they include what the lock waited for."""
    statement = (select(Staff.id, Staff.agency_id, Staff.name, Staff.programs, Staff.active, Staff.caseload_cap,
                        Staff.role)
                 .where(Staff.agency_id == agency).order_by(Staff.id))
    if lock:
        statement = statement.with_for_update()
    members = [m for m in session.execute(statement) if not only_case_managers or m.role == "case_manager"]
    # The open caseloads and the last assignment of each, in one round trip.
    open_counts = select(CaseRecord.case_manager_id.label("staff_id"), func.count().label("caseload"),
                         # typed: the union's rows take the first select's types (SQLite's datetimes are text)
                         type_coerce(null(), CaseAssignment.assigned_at.type).label("last_assigned_at")).where(
        CaseRecord.agency_id == agency, CaseRecord.state.in_([s.value for s in OPEN_STATES]),
        CaseRecord.case_manager_id.is_not(None),
    ).group_by(CaseRecord.case_manager_id)
    last_assigned = (select(CaseAssignment.case_manager_id, null(), func.max(CaseAssignment.assigned_at))
                     .where(CaseAssignment.agency_id == agency).group_by(CaseAssignment.case_manager_id))
    counts: dict[str, int] = {}
    last: dict[str, datetime] = {}
    for staff_id, caseload, last_at in session.execute(union_all(open_counts, last_assigned)):
        if caseload is not None:
            if staff_id:
                counts[staff_id] = int(caseload)
        else:
            last[staff_id] = last_at
    managers = [CaseManager(id=m.id, agency_id=m.agency_id, name=m.name, programs=frozenset(m.programs),
                            active=m.active, caseload_cap=m.caseload_cap) for m in members]
    return staff_loads(managers, counts, last)


def _store_assignment(session: Session, record: AssignmentRecord) -> None:
    session.add(CaseAssignment(
        agency_id=record.agency_id, case_id=record.case_id, case_manager_id=record.case_manager_id,
        previous_case_manager_id=record.previous_case_manager_id, assigned_at=record.assigned_at,
        assigned_by=record.assigned_by, strategy=record.strategy, reason=record.reason,
    ))


def _apply(session: Session, emit: Emit, row: CaseRecord, result: Any, now: datetime) -> bool:
    """Store an assignment the domain made (the case, its history row) and publish its events; False if none."""
    if result.outcome is None or result.record is None:
        return False
    store_case(row, result.outcome.case, now)
    _store_assignment(session, result.record)
    session.flush()
    emit_case_events(session, emit, row, result.outcome.events, now)
    return True


def assign_automatically(
    session: Session, emit: Emit, row: CaseRecord, settings: CaseworkSettings, now: datetime,
) -> bool:
    """Let the agency's strategy pick a case manager; False (case stays pending) when nobody has room."""
    candidates = candidate_loads(session, row.agency_id, lock=True, only_case_managers=True)
    result = auto_assign(to_case(row), candidates=candidates, strategy=strategy_for(session, row.agency_id, settings),
                         program=terms_of(row), at=now)
    return _apply(session, emit, row, result, now)


def assign_waiting_cases(
    session: Session, emit: Emit, settings: CaseworkSettings, now: datetime, limit: int = 50,
) -> int:
    """Give waiting (`pending_assignment`) cases a case manager now that someone may have room, oldest first.

    Room frees up when a case closes, a cap is raised or someone joins; the supervision timer calls this so
    no case waits for a supervisor to notice. Rows are claimed with SKIP LOCKED, so two replicas never
    assign the same case, and the staff rows are locked while choosing, so caps hold.
    """
    waiting = session.scalars(
        select(CaseRecord).where(CaseRecord.state == CaseState.PENDING_ASSIGNMENT.value)
        .order_by(CaseRecord.created_at, CaseRecord.id).limit(limit).with_for_update(skip_locked=True)
    ).all()
    return sum(1 for row in waiting if assign_automatically(session, emit, row, settings, now))


def assign_manually(
    session: Session, emit: Emit, row: CaseRecord, staff_id: str, *, actor: Actor, reason: str | None,
    allow_over_cap: bool, now: datetime,
) -> bool:
    """A supervisor's (re)assignment; False when the person already holds the case (nothing changed)."""
    candidates = {c.id: c for c in candidate_loads(session, row.agency_id, lock=True, only_case_managers=False)}
    staff = candidates.get(staff_id)
    if staff is None:
        raise ProgramNotServed(f"no active staff member {staff_id} in your agency")
    result = manual_assign(to_case(row), staff=staff, program=terms_of(row), at=now, actor=actor, reason=reason,
                           allow_over_cap=allow_over_cap)
    return _apply(session, emit, row, result, now)


def assignment_history(session: Session, case_id: str) -> list[CaseAssignment]:
    return list(session.scalars(select(CaseAssignment).where(CaseAssignment.case_id == case_id)
                                .order_by(CaseAssignment.assigned_at, CaseAssignment.id)))
