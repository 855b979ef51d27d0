"""Case-manager assignment: staff and their loads, pluggable strategies (`diversion.assignment`), history.

A strategy only chooses among candidates; `None` means nobody has room and the case stays
`pending_assignment` (not an error). Ties always break the same way so two replicas agree.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from importlib.metadata import entry_points
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from services.casework.domain.lifecycle import Actor, Case, CaseworkError, Outcome, ProgramTerms, assign

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "diversion.assignment"


class CaseManager(BaseModel):
    """A staff member of one agency who can carry cases in the programs listed."""

    model_config = ConfigDict(frozen=True)

    id: str
    agency_id: str
    name: str
    programs: frozenset[str]
    active: bool = True
    caseload_cap: int = Field(default=25, ge=0)


class StaffLoad(BaseModel):
    """What a strategy sees of one candidate at the moment of choosing."""

    model_config = ConfigDict(frozen=True)

    id: str
    programs: frozenset[str]
    caseload: int = Field(ge=0)
    cap: int = Field(ge=0)
    last_assigned_at: datetime | None = None

    @property
    def has_room(self) -> bool:
        return self.caseload < self.cap

    @property
    def utilization(self) -> float:
        return self.caseload / self.cap if self.cap else 1.0

    def serves(self, program_id: str) -> bool:
        return program_id in self.programs


@runtime_checkable
class AssignableCase(Protocol):
    """The part of a case a strategy may look at (a `Case` qualifies)."""

    @property
    def id(self) -> str: ...

    @property
    def program_id(self) -> str: ...


class AssignmentStrategy(Protocol):
    name: str

    def choose(self, candidates: list[StaffLoad], case: AssignableCase) -> str | None: ...


class UnknownStrategy(CaseworkError):
    """No assignment strategy is installed under that name."""


class CaseloadFull(CaseworkError):
    """A manual assignment names someone who is at their cap (a supervisor may override)."""


class ProgramNotServed(CaseworkError):
    """A manual assignment names someone who does not serve the case's program, or is inactive."""


def staff_loads(
    managers: Iterable[CaseManager],
    caseloads: Mapping[str, int],
    last_assigned_at: Mapping[str, datetime] | None = None,
) -> list[StaffLoad]:
    """Candidates from staff rows and current open-case counts; inactive staff are left out."""
    last = last_assigned_at or {}
    return [
        StaffLoad(
            id=m.id,
            programs=m.programs,
            caseload=caseloads.get(m.id, 0),
            cap=m.caseload_cap,
            last_assigned_at=last.get(m.id),
        )
        for m in managers
        if m.active
    ]


def eligible(candidates: Iterable[StaffLoad], case: AssignableCase) -> list[StaffLoad]:
    """Those who serve the case's program and are under their cap."""
    return [c for c in candidates if c.serves(case.program_id) and c.has_room]


def _never_first(moment: datetime | None) -> tuple[int, datetime]:
    # Someone never assigned goes before anyone who was; the flag keeps None out of the comparison.
    return (0, datetime.min) if moment is None else (1, moment)


class LeastCaseload:
    """Fewest open cases first; then lowest utilization (part-time caps), longest since last
    assignment, and finally staff id."""

    name = "least_caseload"

    def choose(self, candidates: list[StaffLoad], case: AssignableCase) -> str | None:
        pool = eligible(candidates, case)
        if not pool:
            return None
        best = min(pool, key=lambda c: (c.caseload, c.utilization, _never_first(c.last_assigned_at), c.id))
        return best.id


class RoundRobin:
    """Turns in order: whoever was assigned longest ago (never assigned first), ties by staff id.

    Stateless: the order comes from `last_assigned_at`, which the database keeps, so restarts and
    several replicas continue the same rotation.
    """

    name = "round_robin"

    def choose(self, candidates: list[StaffLoad], case: AssignableCase) -> str | None:
        pool = eligible(candidates, case)
        if not pool:
            return None
        return min(pool, key=lambda c: (_never_first(c.last_assigned_at), c.id)).id


BUILT_IN_STRATEGIES: dict[str, type[LeastCaseload] | type[RoundRobin]] = {
    LeastCaseload.name: LeastCaseload,
    RoundRobin.name: RoundRobin,
}


def load_strategies() -> dict[str, AssignmentStrategy]:
    """Installed strategies by entry-point name; built-ins fill any name that is missing or fails to load."""
    found: dict[str, AssignmentStrategy] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            factory = ep.load()
            found[ep.name] = factory()
        except Exception:  # a broken plugin must not stop assignment with the built-ins
            log.warning("assignment strategy %r failed to load; skipped", ep.name, exc_info=True)
    for name, cls in BUILT_IN_STRATEGIES.items():
        found.setdefault(name, cls())
    return found


_INSTALLED: dict[str, AssignmentStrategy] = {}


def installed_strategies() -> dict[str, AssignmentStrategy]:
    """`load_strategies()` once per process: plugins are installed packages, found at the first assignment.
    (Scanning every distribution's entry points on each case cost 12 % of casework's CPU under load.)"""
    if not _INSTALLED:
        _INSTALLED.update(load_strategies())
    return _INSTALLED


def get_strategy(name: str) -> AssignmentStrategy:
    strategies = installed_strategies()
    try:
        return strategies[name]
    except KeyError:
        raise UnknownStrategy(
            f"no assignment strategy {name!r}; installed: {', '.join(sorted(strategies))}"
        ) from None


class AssignmentRecord(BaseModel):
    """One row of a case's assignment history (first assignment and every reassignment)."""

    model_config = ConfigDict(frozen=True)

    case_id: str
    agency_id: str
    case_manager_id: str
    previous_case_manager_id: str | None
    assigned_at: datetime
    assigned_by: str | None  # None when a strategy chose automatically with no human actor
    strategy: str | None
    reason: str | None = None


class AssignmentResult(BaseModel):
    """`outcome` and `record` are None when nobody had room: the case stays pending."""

    model_config = ConfigDict(frozen=True)

    outcome: Outcome | None
    record: AssignmentRecord | None

    @property
    def assigned(self) -> bool:
        return self.outcome is not None


def auto_assign(
    case: Case,
    *,
    candidates: list[StaffLoad],
    strategy: AssignmentStrategy,
    program: ProgramTerms,
    at: datetime,
    actor: Actor | None = None,
) -> AssignmentResult:
    """Let the strategy choose; assign through the lifecycle when someone has room."""
    chosen = strategy.choose(candidates, case)
    if chosen is None:
        return AssignmentResult(outcome=None, record=None)
    outcome = assign(
        case,
        case_manager_id=chosen,
        program=program,
        on=at.date(),
        actor=actor,
        reason=f"chosen by {strategy.name}",
    )
    record = AssignmentRecord(
        case_id=case.id,
        agency_id=case.agency_id,
        case_manager_id=chosen,
        previous_case_manager_id=case.case_manager_id,
        assigned_at=at,
        assigned_by=actor.subject if actor else None,
        strategy=strategy.name,
        reason=f"chosen by {strategy.name}",
    )
    return AssignmentResult(outcome=outcome, record=record)


def manual_assign(
    case: Case,
    *,
    staff: StaffLoad,
    program: ProgramTerms,
    at: datetime,
    actor: Actor,
    reason: str | None = None,
    allow_over_cap: bool = False,
) -> AssignmentResult:
    """A person picks the case manager (first assignment or reassignment). Over the cap only when
    `allow_over_cap` (the service grants it to supervisors)."""
    if not staff.serves(case.program_id):
        raise ProgramNotServed(f"case manager {staff.id} does not serve program {case.program_id}")
    if not staff.has_room and not allow_over_cap and staff.id != case.case_manager_id:
        raise CaseloadFull(f"case manager {staff.id} is at the caseload cap ({staff.cap})")
    outcome = assign(
        case, case_manager_id=staff.id, program=program, on=at.date(), actor=actor, reason=reason
    )
    if not outcome.events:
        return AssignmentResult(outcome=outcome, record=None)
    record = AssignmentRecord(
        case_id=case.id,
        agency_id=case.agency_id,
        case_manager_id=staff.id,
        previous_case_manager_id=case.case_manager_id,
        assigned_at=at,
        assigned_by=actor.subject,
        strategy=None,
        reason=reason,
    )
    return AssignmentResult(outcome=outcome, record=record)


def current_manager(history: Sequence[AssignmentRecord]) -> str | None:
    """The case manager named by the latest record (by time, then insertion order)."""
    if not history:
        return None
    ordered = sorted(enumerate(history), key=lambda pair: (pair[1].assigned_at, pair[0]))
    return ordered[-1][1].case_manager_id
