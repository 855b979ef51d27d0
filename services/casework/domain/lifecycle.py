"""Case lifecycle: the explicit state table, program duration bounds and the events each transition yields.

Every command is a pure function `(case, ...) -> Outcome`: a new `Case` value plus the events to publish,
so the service layer can store both in one transaction (outbox) and nothing here touches I/O.

Over 400 lines on purpose: the state table (and the actions it allows), the program's bounds, the guards
(supervisor override, closed case) and the transitions read together: each transition checks the table,
the bounds and the guards, and a refusal names the allowed actions; split, each part would import the others.
"""

from __future__ import annotations

import calendar
from datetime import date
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class CaseState(StrEnum):
    PENDING_ASSIGNMENT = "pending_assignment"
    ACTIVE = "active"
    EXTENDED = "extended"
    COMPLETED = "completed"
    TERMINATED = "terminated"
    WITHDRAWN = "withdrawn"


class Disposition(StrEnum):
    """How a successfully completed case is resolved (the seed: dismissal or one-day probation)."""

    DISMISSAL = "dismissal"
    ONE_DAY_PROBATION = "one_day_probation"


class CaseEventName(StrEnum):
    OPENED = "case.opened"
    ASSIGNED = "case.assigned"
    PLAN_UPDATED = "case.plan_updated"
    COMPLETED = "case.completed"
    TERMINATED = "case.terminated"
    WITHDRAWN = "case.withdrawn"


S = CaseState

# The whole table, written out so a reader (and the parametrized tests) can see every legal move.
# `extended -> extended` is a further extension; terminal states have no way out.
TRANSITIONS: dict[CaseState, tuple[CaseState, ...]] = {
    S.PENDING_ASSIGNMENT: (S.ACTIVE, S.WITHDRAWN),
    S.ACTIVE: (S.EXTENDED, S.COMPLETED, S.TERMINATED, S.WITHDRAWN),
    S.EXTENDED: (S.EXTENDED, S.COMPLETED, S.TERMINATED, S.WITHDRAWN),
    S.COMPLETED: (),
    S.TERMINATED: (),
    S.WITHDRAWN: (),
}

TERMINAL_STATES = frozenset(state for state, targets in TRANSITIONS.items() if not targets)
OPEN_STATES = frozenset({S.ACTIVE, S.EXTENDED})  # under supervision: counts toward a caseload
OVERRIDE_ROLES = frozenset({"supervisor"})


class CaseworkError(Exception):
    """Base of the casework domain errors (the service layer maps them to problem+json)."""


class InvalidTransition(CaseworkError):
    """The case cannot move from its current state to the attempted one."""

    def __init__(self, current: CaseState, attempted: CaseState, allowed: list[CaseState]) -> None:
        self.current = current
        self.attempted = attempted
        self.allowed = allowed
        self.problem_extra: dict[str, Any] = {"current_state": current.value, "allowed": allowed_actions(current)}
        names = ", ".join(state.value for state in allowed) if allowed else "none (terminal state)"
        super().__init__(
            f"a case in state {current.value!r} cannot move to {attempted.value!r}; allowed: {names}"
        )


class OverrideRequired(CaseworkError):
    """Completing before the program's minimum duration needs a supervisor override with a reason."""

    def __init__(self, earliest_completion: date, detail: str = "") -> None:
        self.earliest_completion = earliest_completion
        self.problem_extra: dict[str, Any] = {"earliest_completion": earliest_completion.isoformat()}
        message = (
            f"the program's minimum duration ends on {earliest_completion.isoformat()}; "
            "completing earlier needs a supervisor override with a reason"
        )
        super().__init__(f"{message} ({detail})" if detail else message)


class DurationExceeded(CaseworkError):
    """An extension would take the case past the program's maximum duration."""

    def __init__(self, requested_end: date, latest_end: date) -> None:
        self.requested_end = requested_end
        self.latest_end = latest_end
        self.problem_extra: dict[str, Any] = {"latest_end": latest_end.isoformat(),
                                              "requested_end": requested_end.isoformat()}
        super().__init__(
            f"the requested end {requested_end.isoformat()} is past the program's maximum "
            f"end {latest_end.isoformat()}"
        )


class ReasonRequired(CaseworkError):
    """Terminating or withdrawing a case, or extending it, must say why."""


def allowed_transitions(current: CaseState) -> list[CaseState]:
    return list(TRANSITIONS[current])


ACTION_OF_STATE = {
    CaseState.ACTIVE: "assign",
    CaseState.EXTENDED: "extend",
    CaseState.COMPLETED: "complete",
    CaseState.TERMINATED: "terminate",
    CaseState.WITHDRAWN: "withdraw",
}


def allowed_actions(state: CaseState) -> list[str]:
    """What can be done to a case now, by the names the API uses: its transitions, and reassignment while open."""
    actions = [ACTION_OF_STATE[target] for target in allowed_transitions(state)]
    if state in OPEN_STATES:
        actions.append("reassign")
    return sorted(set(actions))


def check_transition(current: CaseState, attempted: CaseState) -> None:
    """Raise `InvalidTransition` naming the allowed targets unless `current -> attempted` is in the table."""
    if attempted not in TRANSITIONS[current]:
        raise InvalidTransition(current, attempted, allowed_transitions(current))


def add_months(start: date, months: int) -> date:
    """Calendar month arithmetic clamped to the month's end: Jan 31 + 1 month is Feb 28 (29 in leap years)."""
    index = start.year * 12 + (start.month - 1) + months
    year, month0 = divmod(index, 12)
    month = month0 + 1
    last_day = calendar.monthrange(year, month)[1]
    return date(year, month, min(start.day, last_day))


class ProgramTerms(BaseModel):
    """Duration bounds of one diversion program (the demo agency: 6 to 18 months)."""

    model_config = ConfigDict(frozen=True)

    program_id: str
    min_months: int = Field(default=6, ge=0)
    max_months: int = Field(default=18, ge=1)
    # Planned length at assignment; defaults to the minimum (an extension adds time when needed).
    standard_months: int | None = None

    @model_validator(mode="after")
    def _bounds_in_order(self) -> ProgramTerms:
        if self.min_months > self.max_months:
            raise ValueError("min_months must not exceed max_months")
        planned = self.planned_months
        if not self.min_months <= planned <= self.max_months:
            raise ValueError("standard_months must lie between min_months and max_months")
        return self

    @property
    def planned_months(self) -> int:
        return self.standard_months if self.standard_months is not None else self.min_months

    def expected_end(self, start: date) -> date:
        return add_months(start, self.planned_months)

    def earliest_completion(self, start: date) -> date:
        return add_months(start, self.min_months)

    def latest_end(self, start: date) -> date:
        return add_months(start, self.max_months)


class Actor(BaseModel):
    """Who acted (from the verified token): subject and the roles it holds."""

    model_config = ConfigDict(frozen=True)

    subject: str
    roles: frozenset[str] = frozenset()


class SupervisorOverride(BaseModel):
    """A supervisor's recorded permission to complete early; the role is checked, the reason kept."""

    model_config = ConfigDict(frozen=True)

    approved_by: str
    role: str
    reason: str


class CaseClosed(CaseworkError):
    """Nothing new (a contact, an appointment, an incident, a plan change) is recorded on a closed case."""


def require_open(state: CaseState, *, what: str = "") -> None:
    """Refuse a change to a case in a terminal state; `what` names what is closed with it."""
    if state in TERMINAL_STATES:
        raise CaseClosed(f"the case is {state.value}{'; ' + what if what else ''}")


class OverrideNotPermitted(CaseworkError):
    """Someone without the supervisor role asked to override the program's minimum duration."""


def supervisor_override(actor: Actor, reason: str) -> SupervisorOverride:
    """Only a supervisor overrides the minimum: the override is recorded in the acting supervisor's name."""
    if not actor.roles & OVERRIDE_ROLES:
        raise OverrideNotPermitted("only a supervisor may override the program's minimum duration")
    return SupervisorOverride(approved_by=actor.subject, role="supervisor", reason=reason)


class CaseEvent(BaseModel):
    """A fact to publish; `name` is one of `CaseEventName`, `data` is JSON-able."""

    model_config = ConfigDict(frozen=True)

    name: CaseEventName
    case_id: str
    agency_id: str
    occurred_on: date
    actor: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class Case(BaseModel):
    """One participant's diversion case (immutable value; commands return a changed copy)."""

    model_config = ConfigDict(frozen=True)

    id: str
    agency_id: str
    referral_id: str
    participant_id: str
    program_id: str
    state: CaseState = CaseState.PENDING_ASSIGNMENT
    case_manager_id: str | None = None
    referred_on: date | None = None
    opened_on: date
    start_date: date | None = None  # supervision starts when a case manager is assigned
    expected_end_date: date | None = None
    closed_on: date | None = None
    disposition: Disposition | None = None
    termination_reason: str | None = None
    withdrawal_reason: str | None = None
    override: SupervisorOverride | None = None
    extensions: int = 0
    version: int = 1  # bumped by every change; the ETag of the case


class Outcome(BaseModel):
    """The result of a command: the new case and the events to store in the outbox with it."""

    model_config = ConfigDict(frozen=True)

    case: Case
    events: list[CaseEvent]


def _event(case: Case, name: CaseEventName, on: date, actor: Actor | None, **data: Any) -> CaseEvent:
    return CaseEvent(
        name=name,
        case_id=case.id,
        agency_id=case.agency_id,
        occurred_on=on,
        actor=actor.subject if actor else None,
        data={"program_id": case.program_id, "participant_id": case.participant_id, **data},
    )


def _changed(case: Case, **changes: Any) -> Case:
    return case.model_copy(update={**changes, "version": case.version + 1})


def _require_reason(reason: str | None, what: str) -> str:
    if reason is None or not reason.strip():
        raise ReasonRequired(f"{what} needs a reason")
    return reason.strip()


def open_case(
    *,
    case_id: str,
    agency_id: str,
    referral_id: str,
    participant_id: str,
    program: ProgramTerms,
    opened_on: date,
    referred_on: date | None = None,
    actor: Actor | None = None,
) -> Outcome:
    """A new case from an accepted referral; it waits in `pending_assignment` for a case manager."""
    case = Case(
        id=case_id,
        agency_id=agency_id,
        referral_id=referral_id,
        participant_id=participant_id,
        program_id=program.program_id,
        referred_on=referred_on,
        opened_on=opened_on,
    )
    event = _event(
        case, CaseEventName.OPENED, opened_on, actor, referral_id=referral_id, state=case.state.value
    )
    return Outcome(case=case, events=[event])


def assign(
    case: Case,
    *,
    case_manager_id: str,
    program: ProgramTerms,
    on: date,
    actor: Actor | None = None,
    reason: str | None = None,
) -> Outcome:
    """Assign a case manager: the first assignment activates the case and fixes its dates; later ones
    (while active or extended) are reassignments that keep the state and dates."""
    if case.state is CaseState.PENDING_ASSIGNMENT:
        check_transition(case.state, CaseState.ACTIVE)
        new = _changed(
            case,
            state=CaseState.ACTIVE,
            case_manager_id=case_manager_id,
            start_date=on,
            expected_end_date=program.expected_end(on),
        )
    elif case.state in OPEN_STATES:
        if case_manager_id == case.case_manager_id:
            return Outcome(case=case, events=[])  # same person again: nothing changed
        new = _changed(case, case_manager_id=case_manager_id)
    else:
        # Terminal: report it as an attempted move back to active, which the table forbids.
        raise InvalidTransition(case.state, CaseState.ACTIVE, allowed_transitions(case.state))
    assert new.expected_end_date is not None
    event = _event(
        new,
        CaseEventName.ASSIGNED,
        on,
        actor,
        case_manager_id=case_manager_id,
        previous_case_manager_id=case.case_manager_id,
        reason=reason,
        state=new.state.value,
        start_date=new.start_date.isoformat() if new.start_date else None,
        expected_end_date=new.expected_end_date.isoformat(),
    )
    return Outcome(case=new, events=[event])


def extend(
    case: Case,
    *,
    program: ProgramTerms,
    on: date,
    reason: str,
    months: int | None = None,
    until: date | None = None,
    actor: Actor | None = None,
) -> Outcome:
    """Move the expected end later by `months` or to `until`; never past start + the program's maximum.

    Publishes `case.plan_updated` (the catalog has no separate extension event) with `change=extended`.
    """
    check_transition(case.state, CaseState.EXTENDED)
    why = _require_reason(reason, "an extension")
    if (months is None) == (until is None):
        raise ValueError("give exactly one of months or until")
    assert case.start_date is not None and case.expected_end_date is not None
    if months is not None:
        if months <= 0:
            raise ValueError("an extension adds at least one month")
        new_end = add_months(case.expected_end_date, months)
    else:
        assert until is not None
        if until <= case.expected_end_date:
            raise ValueError("an extension must move the expected end later")
        new_end = until
    latest = program.latest_end(case.start_date)
    if new_end > latest:
        raise DurationExceeded(new_end, latest)
    new = _changed(case, state=CaseState.EXTENDED, expected_end_date=new_end, extensions=case.extensions + 1)
    event = _event(
        new,
        CaseEventName.PLAN_UPDATED,
        on,
        actor,
        change="extended",
        reason=why,
        previous_expected_end_date=case.expected_end_date.isoformat(),
        expected_end_date=new_end.isoformat(),
        latest_end_date=latest.isoformat(),
        extensions=new.extensions,
    )
    return Outcome(case=new, events=[event])


def complete(
    case: Case,
    *,
    disposition: Disposition,
    program: ProgramTerms,
    on: date,
    override: SupervisorOverride | None = None,
    actor: Actor | None = None,
) -> Outcome:
    """Successful completion: dismissal or one-day probation. Before the minimum duration it needs a
    supervisor override (role `supervisor` and a reason)."""
    check_transition(case.state, CaseState.COMPLETED)
    assert case.start_date is not None
    earliest = program.earliest_completion(case.start_date)
    used_override: SupervisorOverride | None = None
    if on < earliest:
        if override is None:
            raise OverrideRequired(earliest)
        if override.role not in OVERRIDE_ROLES:
            raise OverrideRequired(earliest, f"role {override.role!r} cannot override")
        if not override.reason.strip():
            raise OverrideRequired(earliest, "the override has no reason")
        used_override = override
    new = _changed(
        case, state=CaseState.COMPLETED, closed_on=on, disposition=disposition, override=used_override
    )
    event = _event(
        new,
        CaseEventName.COMPLETED,
        on,
        actor,
        referral_id=case.referral_id,
        disposition=disposition.value,
        start_date=case.start_date.isoformat(),
        closed_on=on.isoformat(),
        days_in_program=(on - case.start_date).days,
        early_completion_override=used_override.model_dump() if used_override else None,
    )
    return Outcome(case=new, events=[event])


def terminate(case: Case, *, reason: str, on: date, actor: Actor | None = None) -> Outcome:
    """Unsuccessful exit: the case returns to prosecution, with the reason recorded."""
    check_transition(case.state, CaseState.TERMINATED)
    why = _require_reason(reason, "returning a case to prosecution")
    new = _changed(case, state=CaseState.TERMINATED, closed_on=on, termination_reason=why)
    event = _event(
        new,
        CaseEventName.TERMINATED,
        on,
        actor,
        referral_id=case.referral_id,
        outcome="returned_to_prosecution",
        reason=why,
        start_date=case.start_date.isoformat() if case.start_date else None,
        closed_on=on.isoformat(),
        days_in_program=(on - case.start_date).days if case.start_date else None,
    )
    return Outcome(case=new, events=[event])


def withdraw(case: Case, *, reason: str, on: date, actor: Actor | None = None) -> Outcome:
    """The case leaves diversion without an outcome on the participant (e.g. the referral was recalled)."""
    check_transition(case.state, CaseState.WITHDRAWN)
    why = _require_reason(reason, "withdrawing a case")
    new = _changed(case, state=CaseState.WITHDRAWN, closed_on=on, withdrawal_reason=why)
    event = _event(
        new,
        CaseEventName.WITHDRAWN,
        on,
        actor,
        referral_id=case.referral_id,
        reason=why,
        previous_state=case.state.value,
        closed_on=on.isoformat(),
    )
    return Outcome(case=new, events=[event])
