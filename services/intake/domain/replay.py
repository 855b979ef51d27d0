"""What-if replay: how another version of the agency's pack would have screened the same referrals.

Each referral is screened again under the other pack on the day its current screening was made (so time-based
criteria compare like with like), and each program's status is compared with the current screening's. The
report counts, per program, the referrals whose status changes and in which direction, and breaks the changes
down by race, ethnicity, sex and age band with the equity report's small-cell and complementary suppression.
Pure: nothing is stored.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from .report import MIN_CELL, ReportRow, age_band, build_report
from .screening import Screening

ABSENT = "absent"  # the program is not in one of the two packs


@dataclass(frozen=True)
class Person:
    """What the breakdown needs of a referral (never a name or an id)."""

    race: str | None
    ethnicity: str | None
    sex: str | None
    age: int | None


@dataclass(frozen=True)
class ProgramChange:
    program: str
    before: str
    after: str

    @property
    def changed(self) -> bool:
        return self.before != self.after

    @property
    def direction(self) -> str:
        return f"{self.before}->{self.after}"


class ProgramSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    program: str
    referrals: int = Field(description="referrals compared for this program")
    changed: int = Field(description="referrals whose status for this program changes")
    directions: dict[str, int] = Field(description='"before->after" status: count (changes only)')


class BreakdownCell(BaseModel):
    model_config = ConfigDict(frozen=True)

    program: str
    dimension: str
    group: str
    referrals: int | None
    changed: int | None
    eligible_after: int | None = Field(description="eligible under the replayed pack")
    suppressed: bool


class ReplayReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    version: str
    compared_with: str = "each referral's current screening"
    referrals: int
    changed_referrals: int = Field(description="referrals with at least one program changing status")
    programs: list[ProgramSummary]
    min_cell: int
    breakdown: list[BreakdownCell]


def compare(current: Screening, replayed: Screening) -> list[ProgramChange]:
    """Every program of either screening, with its status before and after (ABSENT where a pack lacks it)."""
    before = {p.program: p.status.value for p in current.programs}
    after = {p.program: p.status.value for p in replayed.programs}
    order = [p.program for p in current.programs] + [p for p in after if p not in before]
    return [ProgramChange(program, before.get(program, ABSENT), after.get(program, ABSENT)) for program in order]


class Tally:
    """Accumulates comparisons one referral at a time (a long replay keeps no list of referrals)."""

    def __init__(self) -> None:
        self.referrals = 0
        self.changed_referrals = 0
        self.per_program: dict[str, Counter[str]] = defaultdict(Counter)
        self.compared: Counter[str] = Counter()
        self.rows: list[ReportRow] = []

    def add(self, person: Person, changes: Iterable[ProgramChange]) -> None:
        self.referrals += 1
        band = age_band(person.age)
        any_change = False
        for change in changes:
            self.compared[change.program] += 1
            if change.changed:
                any_change = True
                self.per_program[change.program][change.direction] += 1
            # ReportRow's two flags carry "changed" and "eligible after" through the equity report's suppression.
            self.rows.append(ReportRow(program=change.program, race=person.race, ethnicity=person.ethnicity,
                                       sex=person.sex, age_band=band, screened_eligible=change.changed,
                                       accepted=change.after == "eligible"))
        self.changed_referrals += any_change

    def report(self, version: str, *, min_cell: int = MIN_CELL) -> ReplayReport:
        equity = build_report(self.rows, min_cell=min_cell)
        programs = [
            ProgramSummary(program=program, referrals=count, changed=sum(self.per_program[program].values()),
                           directions=dict(sorted(self.per_program[program].items())))
            for program, count in self.compared.items()
        ]
        breakdown = [
            BreakdownCell(program=c.program, dimension=c.dimension, group=c.group, referrals=c.referred,
                          changed=c.screened_eligible, eligible_after=c.accepted, suppressed=c.suppressed)
            for c in equity.cells
        ]
        return ReplayReport(version=version, referrals=self.referrals, changed_referrals=self.changed_referrals,
                            programs=programs, min_cell=min_cell, breakdown=breakdown)
