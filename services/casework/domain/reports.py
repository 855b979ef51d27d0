"""Reports from plain rows: caseloads, overdue items, and outcomes by program and demographics with
small-cell suppression (any count of 1-9 people is withheld, with a complementary cell so it cannot be
recovered by subtraction). Every report renders as JSON-able dicts and as CSV.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from services.casework.domain.assignment import CaseManager
from services.casework.domain.lifecycle import OPEN_STATES, TERMINAL_STATES, CaseState
from services.casework.domain.plan import GoalStatus, SupportPlan
from services.casework.domain.supervision import (
    CaseClock,
    Contact,
    TimerKind,
    no_contact_cases,
    overdue_checkins,
)

MIN_CELL = 10
UNKNOWN = "unknown"


class CaseRow(BaseModel):
    """One case as the reports see it (a flat row the database query returns)."""

    model_config = ConfigDict(frozen=True)

    case_id: str
    program_id: str
    state: CaseState
    case_manager_id: str | None = None
    race: str | None = None
    ethnicity: str | None = None
    sex: str | None = None
    age_at_referral: int | None = None
    referred_on: date | None = None
    opened_on: date
    start_date: date | None = None
    closed_on: date | None = None


# ---------------------------------------------------------------- caseload


class CaseloadRow(BaseModel):
    case_manager_id: str
    name: str
    active: bool
    active_cases: int
    cap: int
    utilization: float | None  # active cases / cap, two decimals; None when the cap is 0
    over_cap: bool


def caseload_report(managers: Iterable[CaseManager], cases: Iterable[CaseRow]) -> list[CaseloadRow]:
    """Open (active or extended) cases per case manager; inactive staff appear only while they still hold
    cases, so reassignment work is visible."""
    counts: dict[str, int] = {}
    for row in cases:
        if row.state in OPEN_STATES and row.case_manager_id:
            counts[row.case_manager_id] = counts.get(row.case_manager_id, 0) + 1
    out = []
    for m in sorted(managers, key=lambda m: (m.name, m.id)):
        n = counts.get(m.id, 0)
        if not m.active and n == 0:
            continue
        out.append(
            CaseloadRow(
                case_manager_id=m.id,
                name=m.name,
                active=m.active,
                active_cases=n,
                cap=m.caseload_cap,
                utilization=round(n / m.caseload_cap, 2) if m.caseload_cap else None,
                over_cap=n > m.caseload_cap,
            )
        )
    return out


# ---------------------------------------------------------------- overdue items


class OverdueKind(StrEnum):
    CHECKIN_OVERDUE = "checkin_overdue"
    NO_CONTACT = "no_contact"
    PAST_EXPECTED_END = "past_expected_end"
    GOAL_PAST_TARGET = "goal_past_target"
    TASK_PAST_DUE = "task_past_due"


class OverdueItem(BaseModel):
    kind: OverdueKind
    case_id: str
    case_manager_id: str | None
    due: date
    days_overdue: int
    ref: str | None = None  # the contact, goal or task id


def overdue_items(  # noqa: C901 - one pass over the open cases, a branch per overdue kind; split, the kinds would be read in five places
    *,
    now: datetime,
    clocks: Iterable[CaseClock],
    contacts: Iterable[Contact] = (),
    plans: Iterable[SupportPlan] = (),
    grace: timedelta = timedelta(hours=24),
    no_contact_days: int = 30,
) -> list[OverdueItem]:
    """Everything late on open cases, oldest first: check-ins, silence, program end, plan goals and tasks."""
    clock_list = [c for c in clocks if c.state in OPEN_STATES]
    open_ids = {c.case_id: c for c in clock_list}
    today = now.date()
    items: list[OverdueItem] = []

    def manager(case_id: str) -> str | None:
        return open_ids[case_id].case_manager_id

    for hit in overdue_checkins((c for c in contacts if c.case_id in open_ids), now=now, grace=grace):
        items.append(
            OverdueItem(
                kind=OverdueKind.CHECKIN_OVERDUE,
                case_id=hit.case_id,
                case_manager_id=manager(hit.case_id),
                due=hit.due,
                days_overdue=(today - hit.due).days,
                ref=str(hit.detail["contact_id"]),
            )
        )
    for hit in no_contact_cases(clock_list, now=now, days=no_contact_days):
        assert hit.kind is TimerKind.NO_CONTACT
        items.append(
            OverdueItem(
                kind=OverdueKind.NO_CONTACT,
                case_id=hit.case_id,
                case_manager_id=manager(hit.case_id),
                due=hit.due,
                days_overdue=(today - hit.due).days,
            )
        )
    for clock in clock_list:
        if clock.expected_end_date is not None and clock.expected_end_date < today:
            items.append(
                OverdueItem(
                    kind=OverdueKind.PAST_EXPECTED_END,
                    case_id=clock.case_id,
                    case_manager_id=clock.case_manager_id,
                    due=clock.expected_end_date,
                    days_overdue=(today - clock.expected_end_date).days,
                )
            )
    for plan in plans:
        if plan.case_id not in open_ids:
            continue
        for goal in plan.goals:
            if goal.status in (GoalStatus.ACHIEVED, GoalStatus.DROPPED):
                continue
            if goal.target_date is not None and goal.target_date < today:
                items.append(
                    OverdueItem(
                        kind=OverdueKind.GOAL_PAST_TARGET,
                        case_id=plan.case_id,
                        case_manager_id=manager(plan.case_id),
                        due=goal.target_date,
                        days_overdue=(today - goal.target_date).days,
                        ref=goal.id,
                    )
                )
            for task in goal.tasks:
                if not task.done and task.due_date is not None and task.due_date < today:
                    items.append(
                        OverdueItem(
                            kind=OverdueKind.TASK_PAST_DUE,
                            case_id=plan.case_id,
                            case_manager_id=manager(plan.case_id),
                            due=task.due_date,
                            days_overdue=(today - task.due_date).days,
                            ref=task.id,
                        )
                    )
    return sorted(items, key=lambda i: (i.due, i.case_id, i.kind.value, i.ref or ""))


# ---------------------------------------------------------------- outcomes


class Dimension(StrEnum):
    PROGRAM = "program"
    RACE = "race"
    ETHNICITY = "ethnicity"
    SEX = "sex"
    AGE_BAND = "age_band"


def age_band(age: int | None) -> str:
    if age is None:
        return UNKNOWN
    if age < 18:
        return "under_18"
    for low, high in ((18, 25), (26, 35), (36, 45), (46, 55)):
        if low <= age <= high:
            return f"{low}-{high}"
    return "56_plus"


_GROUPERS: dict[Dimension, Callable[[CaseRow], str]] = {
    Dimension.PROGRAM: lambda r: r.program_id,
    Dimension.RACE: lambda r: r.race or UNKNOWN,
    Dimension.ETHNICITY: lambda r: r.ethnicity or UNKNOWN,
    Dimension.SEX: lambda r: r.sex or UNKNOWN,
    Dimension.AGE_BAND: lambda r: age_band(r.age_at_referral),
}

# The four counts partition the group: cases = open + completed + terminated + withdrawn.
_PARTITION = ("open", "completed", "terminated", "withdrawn")


class OutcomeCell(BaseModel):
    """Outcomes of one group. Rates are over resolved cases (completed + terminated): withdrawn cases say
    nothing about the participant. Null values with their names in `suppressed_fields` were withheld."""

    dimension: Dimension
    group: str
    cases: int | None
    open: int | None
    completed: int | None
    terminated: int | None
    withdrawn: int | None
    completion_rate: float | None
    termination_rate: float | None
    avg_days_in_program: float | None
    avg_days_referral_to_open: float | None
    suppressed: bool = False
    suppressed_fields: list[str] = Field(default_factory=list)


def _mean(values: list[int]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


def _cell(dimension: Dimension, group: str, rows: list[CaseRow], min_cell: int) -> OutcomeCell:
    counts = {
        "open": sum(1 for r in rows if r.state not in TERMINAL_STATES),
        "completed": sum(1 for r in rows if r.state is CaseState.COMPLETED),
        "terminated": sum(1 for r in rows if r.state is CaseState.TERMINATED),
        "withdrawn": sum(1 for r in rows if r.state is CaseState.WITHDRAWN),
    }
    resolved = counts["completed"] + counts["terminated"]
    durations = [
        (r.closed_on - r.start_date).days
        for r in rows
        if r.state in (CaseState.COMPLETED, CaseState.TERMINATED) and r.start_date and r.closed_on
    ]
    waits = [(r.opened_on - r.referred_on).days for r in rows if r.referred_on is not None]
    values: dict[str, Any] = {
        "cases": len(rows),
        **counts,
        "completion_rate": round(counts["completed"] / resolved, 3) if resolved else None,
        "termination_rate": round(counts["terminated"] / resolved, 3) if resolved else None,
        "avg_days_in_program": _mean(durations),
        "avg_days_referral_to_open": _mean(waits),
    }
    withheld: list[str] = []
    if len(rows) < min_cell:
        withheld = list(values)
    else:
        small = [k for k in _PARTITION if 0 < counts[k] < min_cell]
        if len(small) == 1:
            # One withheld count could be recovered as cases minus the others: withhold the next smallest.
            others = sorted(
                (k for k in _PARTITION if k not in small), key=lambda k: (counts[k], _PARTITION.index(k))
            )
            small.append(others[0])
        withheld = [k for k in _PARTITION if k in small]
        if "completed" in withheld or "terminated" in withheld:
            withheld += ["completion_rate", "termination_rate"]
        if len(durations) < min_cell:
            withheld.append("avg_days_in_program")
        if len(waits) < min_cell:
            withheld.append("avg_days_referral_to_open")
    for name in withheld:
        values[name] = None
    return OutcomeCell(
        dimension=dimension, group=group, suppressed=bool(withheld), suppressed_fields=withheld, **values
    )


def outcomes_by(
    rows: Iterable[CaseRow], dimension: Dimension | str, *, min_cell: int = MIN_CELL
) -> list[OutcomeCell]:
    dim = Dimension(dimension)
    groups: dict[str, list[CaseRow]] = {}
    for row in rows:
        groups.setdefault(_GROUPERS[dim](row), []).append(row)
    return [_cell(dim, name, groups[name], min_cell) for name in sorted(groups)]


def outcomes_report(rows: Iterable[CaseRow], *, min_cell: int = MIN_CELL) -> dict[str, list[OutcomeCell]]:
    """All five breakdowns, keyed by dimension name."""
    materialized = list(rows)
    return {dim.value: outcomes_by(materialized, dim, min_cell=min_cell) for dim in Dimension}


# ---------------------------------------------------------------- rendering


def to_jsonable(rows: Sequence[BaseModel]) -> list[dict[str, Any]]:
    return [row.model_dump(mode="json") for row in rows]


def to_csv(rows: Sequence[BaseModel], model: type[BaseModel] | None = None) -> str:
    """CSV with a header row; null (and suppressed) values are empty cells, lists are `;`-joined."""
    kind = model or (type(rows[0]) if rows else None)
    if kind is None:
        return ""
    fields = list(kind.model_fields)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(fields)
    for row in rows:
        data = row.model_dump(mode="json")
        writer.writerow(
            [
                ""
                if data[f] is None
                else ";".join(map(str, data[f]))
                if isinstance(data[f], list)
                else data[f]
                for f in fields
            ]
        )
    return buffer.getvalue()
