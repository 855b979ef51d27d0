"""casework's service layer: plain functions `(session, emit, ...)` between the domain core and the tables.

Each function changes rows in the caller's session and hands the events to `emit` (the outbox), so the
caller commits state and events in one transaction. Nothing here knows about HTTP or nameko.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from services.casework.domain.assignment import (
    AssignmentRecord,
    AssignmentStrategy,
    CaseManager,
    StaffLoad,
    UnknownStrategy,
    auto_assign,
    get_strategy,
    manual_assign,
    staff_loads,
)
from services.casework.domain.lifecycle import (
    OPEN_STATES,
    Actor,
    Case,
    CaseEvent,
    CaseEventName,
    CaseState,
    Disposition,
    ProgramTerms,
    SupervisorOverride,
    open_case,
)
from services.casework.domain.plan import (
    Goal,
    GoalStatus,
    PlanRevision,
    SupportPlan,
    apply_service_referral_status,
)
from services.casework.domain.supervision import (
    CaseClock,
    Contact,
    ContactKind,
    ContactStatus,
    TimerHit,
    TimerKind,
    no_contact_cases,
    overdue_checkins,
    program_end_approaching,
)
from services.casework.models import (
    AgencyConfig,
    CaseAssignment,
    CaseRecord,
    ContactRecord,
    Participant,
    PlanReferralLink,
    PlanVersion,
    Staff,
    SupervisionAlert,
)
from services.casework.settings import CaseworkSettings
from shared.messaging.catalog import (
    CaseAssigned,
    CaseCompleted,
    CaseContactOverdue,
    CaseEndApproaching,
    CaseOpened,
    CasePlanUpdated,
    CaseTerminated,
    CaseWithdrawn,
    CheckinOverdue,
    EventData,
    ReferralAccepted,
)
from shared.messaging.envelope import CloudEvent, new_event, source_of

log = logging.getLogger(__name__)

Emit = Callable[[CloudEvent], None]
SOURCE = source_of("casework")


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def emit_data(emit: Emit, data: EventData, *, subject: str, agency: str) -> None:
    emit(new_event(data, subject=subject, tenantid=agency, source=SOURCE))


# ---------------------------------------------------------------- cases <-> domain


def terms_of(row: CaseRecord) -> ProgramTerms:
    return ProgramTerms(program_id=row.program_id, min_months=row.min_months, max_months=row.max_months)


def to_case(row: CaseRecord) -> Case:
    return Case(
        id=row.id, agency_id=row.agency_id, referral_id=row.referral_id, participant_id=row.participant_id,
        program_id=row.program_id, state=CaseState(row.state), case_manager_id=row.case_manager_id,
        referred_on=row.referred_on, opened_on=row.opened_on, start_date=row.start_date,
        expected_end_date=row.expected_end_date, closed_on=row.closed_on,
        disposition=Disposition(row.disposition) if row.disposition else None,
        termination_reason=row.termination_reason, withdrawal_reason=row.withdrawal_reason,
        override=SupervisorOverride.model_validate(row.override) if row.override else None,
        extensions=row.extensions, version=row.version,
    )


def store_case(row: CaseRecord, case: Case, now: datetime) -> None:
    """Copy a domain case's changes onto its row (the domain bumped `version`)."""
    row.state = case.state.value
    row.case_manager_id = case.case_manager_id
    row.start_date = case.start_date
    row.expected_end_date = case.expected_end_date
    row.closed_on = case.closed_on
    row.disposition = case.disposition.value if case.disposition else None
    row.termination_reason = case.termination_reason
    row.withdrawal_reason = case.withdrawal_reason
    row.override = case.override.model_dump() if case.override else None
    row.extensions = case.extensions
    row.version = case.version
    row.updated_at = now


def staff_subject(session: Session, agency: str, staff_id: str | None) -> str | None:
    """What events call a case manager: the token `sub` when known, else the staff id."""
    if staff_id is None:
        return None
    member = session.scalar(select(Staff).where(Staff.agency_id == agency, Staff.id == staff_id))
    if member is None:
        return staff_id
    return member.subject or member.id


def staff_for_subject(session: Session, agency: str, subject: str) -> Staff | None:
    return session.scalar(select(Staff).where(Staff.agency_id == agency, Staff.subject == subject))


# ---------------------------------------------------------------- events of the lifecycle


def emit_case_events(
    session: Session, emit: Emit, row: CaseRecord, events: Iterable[CaseEvent], now: datetime,
    *, termination_detail: str | None = None,
) -> None:
    """Map the domain's events to catalog events and record them."""
    for event in events:
        data: EventData
        if event.name is CaseEventName.ASSIGNED:
            data = CaseAssigned(
                case_id=row.id,
                case_manager=staff_subject(session, row.agency_id, event.data["case_manager_id"]) or "",
                previous_case_manager=staff_subject(session, row.agency_id, event.data.get("previous_case_manager_id")),
                assigned_at=now,
            )
        elif event.name is CaseEventName.PLAN_UPDATED:
            plan = current_plan(session, row)
            data = CasePlanUpdated(
                case_id=row.id, plan_version=plan.version, goals_total=len(plan.goals),
                goals_completed=sum(1 for g in plan.goals if g.status is GoalStatus.ACHIEVED),
                updated_at=now, change=str(event.data.get("change") or "updated"),
                expected_end=row.expected_end_date,
            )
        elif event.name is CaseEventName.COMPLETED:
            assert row.disposition is not None
            data = CaseCompleted(case_id=row.id, referral_id=row.referral_id,
                                 disposition=row.disposition,  # type: ignore[arg-type]
                                 completed_at=now)
        elif event.name is CaseEventName.TERMINATED:
            data = CaseTerminated(case_id=row.id, referral_id=row.referral_id,
                                  reason=row.termination_reason,  # type: ignore[arg-type]
                                  detail=termination_detail, terminated_at=now)
        elif event.name is CaseEventName.WITHDRAWN:
            data = CaseWithdrawn(case_id=row.id, referral_id=row.referral_id, withdrawn_at=now,
                                 reason=row.withdrawal_reason)
        else:  # OPENED is published by `open_case_from_referral` once assignment settled the state
            continue
        emit_data(emit, data, subject=row.id, agency=row.agency_id)


# ---------------------------------------------------------------- assignment


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
    concurrent assignments (two replicas) cannot both fill the last free place."""
    statement = select(Staff).where(Staff.agency_id == agency).order_by(Staff.id)
    if lock:
        statement = statement.with_for_update()
    members = [m for m in session.scalars(statement) if not only_case_managers or m.role == "case_manager"]
    counts = dict(session.execute(
        select(CaseRecord.case_manager_id, func.count()).where(
            CaseRecord.agency_id == agency, CaseRecord.state.in_([s.value for s in OPEN_STATES]),
            CaseRecord.case_manager_id.is_not(None),
        ).group_by(CaseRecord.case_manager_id)
    ).tuples().all())
    last = {k: aware(v) for k, v in session.execute(
        select(CaseAssignment.case_manager_id, func.max(CaseAssignment.assigned_at))
        .where(CaseAssignment.agency_id == agency).group_by(CaseAssignment.case_manager_id)
    ).tuples().all()}
    managers = [
        CaseManager(id=m.id, agency_id=m.agency_id, name=m.name, programs=frozenset(m.programs),
                    active=m.active, caseload_cap=m.caseload_cap)
        for m in members
    ]
    return staff_loads(managers, {k: int(v) for k, v in counts.items() if k}, last)


def _store_assignment(session: Session, record: AssignmentRecord) -> None:
    session.add(CaseAssignment(
        agency_id=record.agency_id, case_id=record.case_id, case_manager_id=record.case_manager_id,
        previous_case_manager_id=record.previous_case_manager_id, assigned_at=record.assigned_at,
        assigned_by=record.assigned_by, strategy=record.strategy, reason=record.reason,
    ))


def assign_automatically(
    session: Session, emit: Emit, row: CaseRecord, settings: CaseworkSettings, now: datetime,
) -> bool:
    """Let the agency's strategy pick a case manager; False (case stays pending) when nobody has room."""
    candidates = candidate_loads(session, row.agency_id, lock=True, only_case_managers=True)
    result = auto_assign(to_case(row), candidates=candidates, strategy=strategy_for(session, row.agency_id, settings),
                         program=terms_of(row), at=now)
    if result.outcome is None or result.record is None:
        return False
    store_case(row, result.outcome.case, now)
    _store_assignment(session, result.record)
    session.flush()
    emit_case_events(session, emit, row, result.outcome.events, now)
    return True


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
    from services.casework.domain.assignment import ProgramNotServed

    candidates = {c.id: c for c in candidate_loads(session, row.agency_id, lock=True, only_case_managers=False)}
    staff = candidates.get(staff_id)
    if staff is None:
        raise ProgramNotServed(f"no active staff member {staff_id} in your agency")
    result = manual_assign(to_case(row), staff=staff, program=terms_of(row), at=now, actor=actor, reason=reason,
                           allow_over_cap=allow_over_cap)
    if result.record is None or result.outcome is None:
        return False
    store_case(row, result.outcome.case, now)
    _store_assignment(session, result.record)
    session.flush()
    emit_case_events(session, emit, row, result.outcome.events, now)
    return True


# ---------------------------------------------------------------- cases from referral.accepted


def _age_on(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def open_case_from_referral(
    session: Session, emit: Emit, event: CloudEvent, settings: CaseworkSettings, now: datetime | None = None,
) -> CaseRecord:
    """Open exactly one case per (agency, referral): a case that exists already is returned unchanged."""
    data = event.data
    assert isinstance(data, ReferralAccepted)
    agency = event.tenantid
    existing = session.scalar(
        select(CaseRecord).where(CaseRecord.agency_id == agency, CaseRecord.referral_id == data.referral_id)
    )
    if existing is not None:
        log.info("referral %s already has case %s; nothing to do", data.referral_id, existing.id)
        return existing
    now = now or utcnow()
    program = ProgramTerms(program_id=data.program, min_months=data.min_months, max_months=data.max_months)
    person = data.participant
    demographics = person.demographics
    accepted_on = data.accepted_at.date()
    participant = Participant(
        id=str(uuid.uuid4()), agency_id=agency, first_name=person.first_name, last_name=person.last_name,
        date_of_birth=person.date_of_birth, phone=person.phone, email=str(person.email) if person.email else None,
        preferred_language=person.preferred_language,
        sex=demographics.sex if demographics else None,
        race=demographics.race if demographics else None,
        ethnicity=demographics.ethnicity if demographics else None,
        age_at_referral=(demographics.age_at_referral if demographics and demographics.age_at_referral is not None
                         else _age_on(person.date_of_birth, accepted_on)),
        created_at=now,
    )
    outcome = open_case(case_id=str(uuid.uuid4()), agency_id=agency, referral_id=data.referral_id,
                        participant_id=participant.id, program=program, opened_on=now.date(),
                        referred_on=accepted_on)
    case = outcome.case
    row = CaseRecord(
        id=case.id, agency_id=agency, referral_id=data.referral_id, case_number=data.case_number,
        participant_id=participant.id, program_id=program.program_id, min_months=program.min_months,
        max_months=program.max_months, state=case.state.value, referred_on=accepted_on, opened_on=case.opened_on,
        extensions=0, version=case.version, created_at=now, updated_at=now,
    )
    session.add(participant)
    session.flush()
    session.add(row)
    # A concurrent consumer that opened the same referral makes this flush fail on the unique key;
    # the event is retried and then finds the case above.
    session.flush()
    session.add(PlanVersion(agency_id=agency, case_id=row.id, version=1, goals=[], change="created",
                            updated_on=now.date(), updated_by="casework", created_at=now))
    # case.opened goes first in the outbox: consumers see the case before its assignment.
    opened_index = _emit_slot(emit)
    assigned = assign_automatically(session, opened_index.collect, row, settings, now)
    opened = CaseOpened(case_id=row.id, referral_id=row.referral_id, program=row.program_id, opened_at=now,
                        expected_end=row.expected_end_date, participant_id=participant.id,
                        state="active" if assigned else "pending_assignment")
    emit_data(emit, opened, subject=row.id, agency=agency)
    opened_index.flush()
    return row


class _emit_slot:  # noqa: N801 - a tiny buffer used like a function
    """Holds events back so another event can be recorded before them."""

    def __init__(self, emit: Emit) -> None:
        self.emit = emit
        self.held: list[CloudEvent] = []

    def collect(self, event: CloudEvent) -> None:
        self.held.append(event)

    def flush(self) -> None:
        for event in self.held:
            self.emit(event)
        self.held.clear()


# ---------------------------------------------------------------- plans


def current_plan_row(session: Session, case_id: str) -> PlanVersion | None:
    return session.scalar(
        select(PlanVersion).where(PlanVersion.case_id == case_id).order_by(PlanVersion.version.desc()).limit(1)
    )


def plan_from_row(row: PlanVersion) -> SupportPlan:
    return SupportPlan(case_id=row.case_id, agency_id=row.agency_id, version=row.version,
                       goals=[Goal.model_validate(g) for g in row.goals], updated_on=row.updated_on,
                       updated_by=row.updated_by)


def current_plan(session: Session, case: CaseRecord) -> SupportPlan:
    row = current_plan_row(session, case.id)
    if row is None:
        return SupportPlan(case_id=case.id, agency_id=case.agency_id, version=1, goals=[],
                           updated_on=case.opened_on, updated_by="casework")
    return plan_from_row(row)


def save_plan_revision(
    session: Session, emit: Emit, case: CaseRecord, revision: PlanRevision, now: datetime,
) -> SupportPlan:
    """Insert the next plan version (the unique (case, version) key rejects a concurrent save) and
    keep the service-referral links current."""
    plan = revision.plan
    session.add(PlanVersion(
        agency_id=case.agency_id, case_id=case.id, version=plan.version,
        goals=[g.model_dump(mode="json") for g in plan.goals], change=str(revision.event.data.get("change")),
        updated_on=plan.updated_on, updated_by=plan.updated_by, created_at=now,
    ))
    linked = {rid for goal in plan.goals for rid in goal.service_referral_ids}
    known = set(session.scalars(select(PlanReferralLink.service_referral_id).where(
        PlanReferralLink.agency_id == case.agency_id, PlanReferralLink.case_id == case.id)))
    for referral_id in linked - known:
        session.add(PlanReferralLink(agency_id=case.agency_id, service_referral_id=referral_id, case_id=case.id))
    session.flush()
    emit_data(emit, CasePlanUpdated(
        case_id=case.id, plan_version=plan.version, goals_total=len(plan.goals),
        goals_completed=sum(1 for g in plan.goals if g.status is GoalStatus.ACHIEVED), updated_at=now,
        change=str(revision.event.data.get("change")), expected_end=case.expected_end_date,
    ), subject=case.id, agency=case.agency_id)
    return plan


# Statuses resources published before it moved to the FHIR ServiceRequest/Task set.
LEGACY_REFERRAL_STATUSES = {"declined": "rejected", "expired": "failed"}
KNOWN_REFERRAL_STATUSES = {"requested", "received", "accepted", "rejected", "in-progress", "in_progress",
                           "completed", "cancelled", "failed"}


def apply_referral_status(
    session: Session, emit: Emit, agency: str, service_referral_id: str, status: str,
    case_id: str | None = None, now: datetime | None = None,
) -> list[str]:
    """Move the goals linked to a service referral; the ids of the cases whose plan changed."""
    status = LEGACY_REFERRAL_STATUSES.get(status, status)
    if status not in KNOWN_REFERRAL_STATUSES:
        log.warning("service referral %s: unknown status %r ignored", service_referral_id, status)
        return []
    now = now or utcnow()
    statement = select(PlanReferralLink.case_id).where(
        PlanReferralLink.agency_id == agency, PlanReferralLink.service_referral_id == service_referral_id)
    case_ids = set(session.scalars(statement))
    if case_id:
        case_ids.add(case_id)
    changed = []
    for cid in sorted(case_ids):
        case = session.scalar(select(CaseRecord).where(CaseRecord.agency_id == agency, CaseRecord.id == cid)
                              .with_for_update())
        if case is None:
            continue
        revision = apply_service_referral_status(current_plan(session, case), service_referral_id, status,
                                                 on=now.date())
        if revision is not None:
            save_plan_revision(session, emit, case, revision, now)
            changed.append(cid)
    return changed


# ---------------------------------------------------------------- supervision timers


def _insert_ignoring_duplicate(session: Session, values: dict[str, Any]) -> bool:
    """Claim a dedup key; False when another sweep (or replica) already holds it."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(SupervisionAlert).values(**values).on_conflict_do_nothing(index_elements=["dedup_key"])
    return bool(session.execute(statement).rowcount)  # type: ignore[attr-defined]


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
                  expected_end_date=row.expected_end_date, last_contact_at=aware(last) if last else None)
        for row, last in session.execute(statement).tuples()
    ]


def scheduled_contacts(session: Session, case_ids: Iterable[str]) -> list[Contact]:
    ids = list(case_ids)
    if not ids:
        return []
    rows = session.scalars(select(ContactRecord).where(
        ContactRecord.case_id.in_(ids), ContactRecord.status == ContactStatus.SCHEDULED.value))
    return [contact_from_row(r) for r in rows]


def contact_from_row(row: ContactRecord) -> Contact:
    return Contact(id=row.id, case_id=row.case_id, agency_id=row.agency_id, kind=ContactKind(row.kind),
                   scheduled_for=aware(row.scheduled_for), status=ContactStatus(row.status),
                   completed_at=aware(row.completed_at) if row.completed_at else None, notes=row.notes)


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
