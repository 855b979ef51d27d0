"""Equity report: who is referred, screened eligible and accepted, by program and by demographic group.

Small cells are suppressed (count and rate null, flagged) so the published report cannot single anyone out.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

from .referral import Referral, age_on
from .screening import Screening, ScreeningStatus

MIN_CELL = 10
DIMENSIONS = ("all", "race", "ethnicity", "sex", "age_band")
UNKNOWN = "unknown"
CSV_COLUMNS = (
    "program",
    "dimension",
    "group",
    "referred",
    "screened_eligible",
    "eligible_rate",
    "accepted",
    "accepted_rate",
    "suppressed",
)


def age_band(age: int | None) -> str:
    if age is None or age < 0:
        return UNKNOWN
    if age < 18:
        return "under 18"
    if age <= 25:
        return "18-25"
    if age <= 35:
        return "26-35"
    if age <= 45:
        return "36-45"
    return "46+"


@dataclass(frozen=True)
class ReportRow:
    """One referral screened for one program (a referral appears once per program it was screened for)."""

    program: str
    race: str | None
    ethnicity: str | None
    sex: str | None
    age_band: str
    screened_eligible: bool
    accepted: bool


class ReportCell(BaseModel):
    model_config = ConfigDict(frozen=True)

    program: str
    dimension: str
    group: str
    referred: int | None
    screened_eligible: int | None
    eligible_rate: float | None
    accepted: int | None
    accepted_rate: float | None
    suppressed: bool


class EquityReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    min_cell: int
    cells: list[ReportCell]


def build_report(rows: Iterable[ReportRow], *, min_cell: int = MIN_CELL) -> EquityReport:
    """Counts and rates for every (program, dimension, group), with small cells suppressed.

    Suppression rule: a group of fewer than `min_cell` people shows no figures at all. In a larger group a
    count is hidden (with its rate) when it, or its complement within the group, is between 1 and
    `min_cell - 1`: "12 referred, 11 accepted" would reveal the one person who was not.
    """
    groups: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for row in rows:
        values = {
            "all": "all",
            "race": _group(row.race),
            "ethnicity": _group(row.ethnicity),
            "sex": _group(row.sex),
            "age_band": _group(row.age_band),
        }
        for dimension in DIMENSIONS:
            tally = groups[(row.program, dimension, values[dimension])]
            tally[0] += 1
            tally[1] += row.screened_eligible
            tally[2] += row.accepted
    order = {d: i for i, d in enumerate(DIMENSIONS)}
    cells = [
        _cell(program, dimension, group, *tally, min_cell=min_cell)
        for (program, dimension, group), tally in sorted(
            groups.items(), key=lambda kv: (kv[0][0], order[kv[0][1]], kv[0][2])
        )
    ]
    return EquityReport(min_cell=min_cell, cells=cells)


def _group(value: str | None) -> str:
    value = (value or "").strip()
    return value if value else UNKNOWN


def _cell(
    program: str, dimension: str, group: str, referred: int, eligible: int, accepted: int, *, min_cell: int
) -> ReportCell:
    if referred < min_cell:
        return ReportCell(
            program=program,
            dimension=dimension,
            group=group,
            referred=None,
            screened_eligible=None,
            eligible_rate=None,
            accepted=None,
            accepted_rate=None,
            suppressed=True,
        )

    def small(count: int) -> bool:
        return 0 < count < min_cell or 0 < referred - count < min_cell

    hide_eligible, hide_accepted = small(eligible), small(accepted)
    return ReportCell(
        program=program,
        dimension=dimension,
        group=group,
        referred=referred,
        screened_eligible=None if hide_eligible else eligible,
        eligible_rate=None if hide_eligible else round(eligible / referred, 4),
        accepted=None if hide_accepted else accepted,
        accepted_rate=None if hide_accepted else round(accepted / referred, 4),
        suppressed=hide_eligible or hide_accepted,
    )


def render_csv(report: EquityReport) -> str:
    """The report as CSV; suppressed figures are empty fields."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for cell in report.cells:
        writer.writerow([_csv_field(getattr(cell, column)) for column in CSV_COLUMNS])
    return out.getvalue()


def _csv_field(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    # Group names come from referrals: keep a spreadsheet from reading "=..." as a formula.
    if isinstance(value, str) and text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


def report_rows(referral: Referral, screening: Screening, accepted_program: str | None = None) -> list[ReportRow]:
    """One row per screened program for a referral, with the age band on the offense date."""
    person = referral.defendant
    band = age_band(age_on(person.date_of_birth, referral.offense_date))
    return [
        ReportRow(
            program=result.program,
            race=person.race,
            ethnicity=person.ethnicity,
            sex=person.sex,
            age_band=band,
            screened_eligible=result.status is ScreeningStatus.ELIGIBLE,
            accepted=result.program == accepted_program,
        )
        for result in screening.programs
    ]
