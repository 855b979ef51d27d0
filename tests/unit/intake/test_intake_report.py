"""Equity report: counts and rates by program and group, with small cells suppressed."""

from __future__ import annotations

import csv
import io
from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st
from intake_builders import MakeReferral

from services.intake.domain.report import (
    MIN_CELL,
    ReportCell,
    ReportRow,
    age_band,
    build_report,
    render_csv,
    report_rows,
)
from services.intake.domain.ruleset import Ruleset
from services.intake.domain.screening import screen


def rows(count: int, *, race: str, eligible: int, accepted: int, program: str = "young-adult") -> list[ReportRow]:
    return [
        ReportRow(
            program=program,
            race=race,
            ethnicity="not_hispanic",
            sex="female",
            age_band="18-25",
            screened_eligible=i < eligible,
            accepted=i < accepted,
        )
        for i in range(count)
    ]


def cell(cells: list[ReportCell], dimension: str, group: str) -> ReportCell:
    return next(c for c in cells if c.dimension == dimension and c.group == group)


def test_groups_of_ten_or_more_show_counts_and_rates() -> None:
    report = build_report(
        rows(40, race="Black", eligible=30, accepted=20) + rows(20, race="White", eligible=20, accepted=10)
    )
    black = cell(report.cells, "race", "Black")
    assert (black.referred, black.screened_eligible, black.accepted) == (40, 30, 20)
    assert black.eligible_rate == 0.75 and black.accepted_rate == 0.5 and not black.suppressed
    everyone = cell(report.cells, "all", "all")
    assert everyone.referred == 60 and everyone.accepted == 30


def test_a_group_under_ten_people_is_suppressed() -> None:
    report = build_report(
        rows(40, race="Black", eligible=30, accepted=20) + rows(9, race="Asian", eligible=9, accepted=9)
    )
    asian = cell(report.cells, "race", "Asian")
    assert asian.suppressed
    assert (
        asian.referred,
        asian.screened_eligible,
        asian.eligible_rate,
        asian.accepted,
        asian.accepted_rate,
    ) == (
        None,
        None,
        None,
        None,
        None,
    )


def test_a_small_count_or_its_small_complement_is_suppressed() -> None:
    report = build_report(rows(30, race="Black", eligible=25, accepted=3))
    black = cell(report.cells, "race", "Black")
    assert black.referred == 30
    # 3 accepted is a small count; 25 eligible leaves 5 not eligible, a small complement.
    assert black.accepted is None and black.accepted_rate is None
    assert black.screened_eligible is None and black.eligible_rate is None
    assert black.suppressed


def test_missing_demographics_group_as_unknown_and_age_bands() -> None:
    row = ReportRow("p", None, " ", None, age_band(None), True, False)
    report = build_report([row] * 10)
    assert cell(report.cells, "race", "unknown").referred == 10
    assert [age_band(a) for a in (17, 18, 25, 26, 35, 36, 45, 46)] == [
        "under 18",
        "18-25",
        "18-25",
        "26-35",
        "26-35",
        "36-45",
        "36-45",
        "46+",
    ]


def test_csv_has_empty_fields_for_suppressed_figures_and_defuses_formulas() -> None:
    report = build_report(
        rows(12, race="=HYPERLINK(1)", eligible=12, accepted=0)
        + rows(3, race="Other", eligible=0, accepted=0)
        + rows(11, race="White", eligible=0, accepted=0)
    )
    parsed = list(csv.DictReader(io.StringIO(render_csv(report))))
    other = next(r for r in parsed if r["dimension"] == "race" and r["group"] == "Other")
    assert other["referred"] == "" and other["accepted_rate"] == "" and other["suppressed"] == "true"
    formula = next(r for r in parsed if r["dimension"] == "race" and r["group"].endswith("HYPERLINK(1)"))
    assert formula["group"] == "'=HYPERLINK(1)" and formula["referred"] == "12"


def test_rows_from_a_screening_carry_the_age_band_on_the_offense_date(
    make_referral: MakeReferral, stl: Ruleset
) -> None:
    referral = make_referral(dob="2000-10-02")  # 25 on the 2026-10-01 offense
    screening = screen(referral, stl, today=date(2026, 11, 28))
    built = report_rows(referral, screening, accepted_program="young-adult")
    assert [r.program for r in built] == [p.id for p in stl.programs]
    young = built[0]
    assert young.age_band == "18-25" and young.race == "Black" and young.screened_eligible and young.accepted
    assert not any(r.accepted for r in built[1:])


def test_a_suppressed_cell_cannot_be_derived_from_the_total_and_the_other_shown_cell() -> None:
    # The reviewer's case: 26 referred, 24 in one group shown, so the suppressed group was 26 - 24 = 2.
    report = build_report(rows(24, race="Black", eligible=24, accepted=12) + rows(2, race="Asian", eligible=2,
                                                                                   accepted=0))
    everyone = cell(report.cells, "all", "all")
    assert everyone.referred == 26
    black, asian = cell(report.cells, "race", "Black"), cell(report.cells, "race", "Asian")
    assert asian.suppressed and asian.referred is None
    assert black.suppressed and black.referred is None  # complementary: otherwise 26 - 24 gives Asian away
    # The other dimensions hold one group each (every row is female, 18-25): equal to the total, not secret.
    assert cell(report.cells, "sex", "female").referred == 26


def test_complementary_suppression_hides_the_smallest_other_figure_until_the_hidden_sum_is_not_small() -> None:
    report = build_report(
        rows(40, race="Black", eligible=30, accepted=20)
        + rows(20, race="White", eligible=20, accepted=10)
        + rows(12, race="Other", eligible=12, accepted=0)
        + rows(3, race="Asian", eligible=3, accepted=0)
    )
    shown = {c.group: c.referred for c in report.cells if c.dimension == "race"}
    # Asian (3) is primary; Other (12), the smallest other group, goes with it: 15 hidden, not a small sum.
    assert shown == {"Black": 40, "White": 20, "Other": None, "Asian": None}


RACES = ("Black", "White", "Asian", "Other", None)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(RACES), st.sampled_from(("female", "male", None)),
                          st.booleans(), st.booleans()), max_size=120))
def test_no_suppressed_figure_is_the_single_unknown_of_a_sum_or_part_of_a_small_hidden_sum(
    people: list[tuple[str | None, str | None, bool, bool]],
) -> None:
    built = [ReportRow("p", race, "h", sex, "18-25", eligible, eligible and accepted)
             for race, sex, eligible, accepted in people]
    report = build_report(built)
    truth: dict[tuple[str, str], list[int]] = {}
    for row in built:
        for dimension, group in (("race", row.race), ("sex", row.sex)):
            tally = truth.setdefault((dimension, (group or "").strip() or "unknown"), [0, 0, 0])
            tally[0] += 1
            tally[1] += row.screened_eligible
            tally[2] += row.accepted
    cells = {(c.dimension, c.group): c for c in report.cells}
    if not cells:
        return
    total = cells[("all", "all")]
    for dimension in ("race", "sex"):
        members = [c for c in report.cells if c.dimension == dimension]
        for index, measure in enumerate(("referred", "screened_eligible", "accepted")):
            hidden = [c for c in members if getattr(c, measure) is None]
            if getattr(total, measure) is None:
                assert hidden, (dimension, measure, "the hidden total would be the sum of the shown groups")
                continue
            assert len(hidden) != 1, (dimension, measure, hidden[0].group)
            if hidden:
                assert sum(truth[(dimension, c.group)][index] for c in hidden) >= MIN_CELL
            else:  # everything shown adds up: nothing was hidden that a sum would give away
                assert sum(getattr(c, measure) for c in members) == getattr(total, measure)
