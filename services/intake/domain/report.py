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


MEASURES = ("referred", "screened_eligible", "accepted")


def build_report(rows: Iterable[ReportRow], *, min_cell: int = MIN_CELL) -> EquityReport:
    """Counts and rates for every (program, dimension, group), with small cells suppressed.

    Primary suppression: a group of fewer than `min_cell` people shows no figures at all. In a larger group a
    count is hidden (with its rate) when it, or its complement within the group, is between 1 and
    `min_cell - 1`: "12 referred, 11 accepted" would reveal the one person who was not.

    Complementary suppression (see `_protect`): within one program and one dimension the groups add up to the
    "all" row, for each measure. A hidden figure must not be the one unknown of that sum, and what the hidden
    figures add up to must not be small either (a hidden sum of 0 or 3 says each hidden cell is 0, or at most
    3). So more figures are hidden, smallest first, until in every sum either nothing is hidden or at least two
    figures are hidden and together they hold `min_cell` people or more; where no figure is left to hide, the
    total is hidden too.
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
    hidden = _protect(groups, min_cell)
    order = {d: i for i, d in enumerate(DIMENSIONS)}
    cells = [
        _cell(program, dimension, group, *tally, hidden=hidden.get((program, dimension, group), set()))
        for (program, dimension, group), tally in sorted(
            groups.items(), key=lambda kv: (kv[0][0], order[kv[0][1]], kv[0][2])
        )
    ]
    return EquityReport(min_cell=min_cell, cells=cells)


Key = tuple[str, str, str]


def _primary(tally: list[int], min_cell: int) -> set[int]:
    """Which measures (indexes into MEASURES) one cell hides on its own."""
    referred, eligible, accepted = tally
    if referred < min_cell:
        return {0, 1, 2}

    def small(count: int) -> bool:
        return 0 < count < min_cell or 0 < referred - count < min_cell

    return {index for index, count in ((1, eligible), (2, accepted)) if small(count)}


def _protect(groups: dict[Key, list[int]], min_cell: int) -> dict[Key, set[int]]:
    """Primary, then complementary suppression: the hidden measures of every cell."""
    hidden: dict[Key, set[int]] = {key: _primary(tally, min_cell) for key, tally in groups.items()}
    sums: dict[tuple[str, str], list[Key]] = defaultdict(list)  # (program, dimension) -> its group cells
    for key in groups:
        if key[1] != "all":
            sums[(key[0], key[1])].append(key)

    def hide(key: Key, measure: int) -> None:
        hidden[key] |= {0, 1, 2} if measure == 0 else {measure}

    changed = True
    while changed:  # each pass hides at least one more figure, so this ends
        changed = False
        for (program, _dimension), members in sorted(sums.items()):
            total = (program, "all", "all")
            for measure in range(len(MEASURES)):
                masked = [key for key in members if measure in hidden[key]]
                if not masked and measure not in hidden[total]:
                    continue
                if measure in hidden[total] and masked:
                    continue  # two unknowns or more, the total among them: nothing is forced
                if measure not in hidden[total] and len(masked) >= 2 and \
                        sum(groups[key][measure] for key in masked) >= min_cell:
                    continue
                visible = sorted((key for key in members if measure not in hidden[key]),
                                 key=lambda key: (groups[key][measure], key))
                if visible:
                    hide(visible[0], measure)
                elif measure not in hidden[total]:
                    hide(total, measure)
                else:
                    continue
                changed = True
    return hidden


def _group(value: str | None) -> str:
    value = (value or "").strip()
    return value if value else UNKNOWN


def _cell(
    program: str, dimension: str, group: str, referred: int, eligible: int, accepted: int, *, hidden: set[int]
) -> ReportCell:
    if 0 in hidden:
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
    hide_eligible, hide_accepted = 1 in hidden, 2 in hidden
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
