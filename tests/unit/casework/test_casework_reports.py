"""Reports against a small fixture whose figures were worked out by hand, including suppression.

Fixture (40 cases):
  p1: 20 cases, sex F, age 20: 10 completed after 200 days (referral->open 2 days),
      10 terminated after 100 days (4 days)            -> rates .5/.5, 150.0 days, 3.0 days
  p2:  5 cases, sex M, age 30: 2 completed (190 days), 1 terminated (40 days), 2 active; 1 day each
      -> under 10 people: everything withheld
  p3: 15 cases, sex M, age 30: 12 completed (180 days), 3 terminated (60 days); 5 days each
      -> terminated (3) withheld, open (0) withheld with it so 15-12-0 cannot reveal it; rates withheld;
         days (12*180 + 3*60)/15 = 156.0, wait 5.0
  M = p2 + p3: 20 cases, completed 14, terminated 4 and open 2 withheld, withdrawn 0;
      days (2*190 + 40 + 12*180 + 3*60)/18 = 2760/18 = 153.3; wait (5*1 + 15*5)/20 = 4.0
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, timedelta

from services.casework.domain.assignment import CaseManager
from services.casework.domain.lifecycle import CaseState
from services.casework.domain.plan import Goal, GoalStatus, NeedDomain, SupportPlan, Task
from services.casework.domain.reports import (
    CaseRow,
    Dimension,
    OutcomeCell,
    OverdueKind,
    age_band,
    caseload_report,
    outcomes_by,
    outcomes_report,
    overdue_items,
    to_csv,
    to_jsonable,
)
from services.casework.domain.supervision import CaseClock, Contact

OPENED = date(2025, 1, 10)
START = date(2025, 1, 15)


def rows(
    program: str,
    n: int,
    state: CaseState,
    days: int | None,
    wait: int,
    sex: str,
    age: int,
    manager: str = "cm-1",
) -> list[CaseRow]:
    return [
        CaseRow(
            case_id=f"{program}-{state.value}-{i}",
            program_id=program,
            state=state,
            case_manager_id=manager,
            sex=sex,
            race="Black" if i % 2 else "White",
            age_at_referral=age,
            referred_on=OPENED - timedelta(days=wait),
            opened_on=OPENED,
            start_date=START,
            closed_on=START + timedelta(days=days) if days is not None else None,
        )
        for i in range(n)
    ]


FIXTURE = [
    *rows("p1", 10, CaseState.COMPLETED, 200, 2, "F", 20),
    *rows("p1", 10, CaseState.TERMINATED, 100, 4, "F", 20),
    *rows("p2", 2, CaseState.COMPLETED, 190, 1, "M", 30),
    *rows("p2", 1, CaseState.TERMINATED, 40, 1, "M", 30),
    *rows("p2", 2, CaseState.ACTIVE, None, 1, "M", 30, manager="cm-2"),
    *rows("p3", 12, CaseState.COMPLETED, 180, 5, "M", 30),
    *rows("p3", 3, CaseState.TERMINATED, 60, 5, "M", 30),
]
ALL_FIELDS = [
    "cases",
    "open",
    "completed",
    "terminated",
    "withdrawn",
    "completion_rate",
    "termination_rate",
    "avg_days_in_program",
    "avg_days_referral_to_open",
]


def by_group(cells: list[OutcomeCell]) -> dict[str, OutcomeCell]:
    return {c.group: c for c in cells}


def test_outcomes_by_program_match_the_hand_computed_figures() -> None:
    cells = by_group(outcomes_by(FIXTURE, Dimension.PROGRAM))
    assert list(cells) == ["p1", "p2", "p3"]
    p1 = cells["p1"]
    assert (p1.cases, p1.open, p1.completed, p1.terminated, p1.withdrawn) == (20, 0, 10, 10, 0)
    assert (p1.completion_rate, p1.termination_rate) == (0.5, 0.5)
    assert (p1.avg_days_in_program, p1.avg_days_referral_to_open) == (150.0, 3.0)
    assert (p1.suppressed, p1.suppressed_fields) == (False, [])


def test_group_under_ten_people_is_withheld_entirely() -> None:
    p2 = by_group(outcomes_by(FIXTURE, "program"))["p2"]
    assert p2.suppressed and p2.suppressed_fields == ALL_FIELDS
    assert all(getattr(p2, name) is None for name in ALL_FIELDS)


def test_small_count_is_withheld_with_a_complementary_cell_and_the_rates() -> None:
    p3 = by_group(outcomes_by(FIXTURE, "program"))["p3"]
    assert (p3.cases, p3.open, p3.completed, p3.terminated, p3.withdrawn) == (15, None, 12, None, 0)
    assert (p3.completion_rate, p3.termination_rate) == (None, None)
    assert (p3.avg_days_in_program, p3.avg_days_referral_to_open) == (156.0, 5.0)
    assert p3.suppressed_fields == ["open", "terminated", "completion_rate", "termination_rate"]


def test_outcomes_by_sex_and_age_band() -> None:
    sexes = by_group(outcomes_by(FIXTURE, Dimension.SEX))
    male = sexes["M"]
    assert (male.cases, male.open, male.completed, male.terminated, male.withdrawn) == (20, None, 14, None, 0)
    assert (male.avg_days_in_program, male.avg_days_referral_to_open) == (153.3, 4.0)
    assert sexes["F"].model_dump(exclude={"group"}) == by_group(outcomes_by(FIXTURE, Dimension.PROGRAM))[
        "p1"
    ].model_dump(exclude={"group"}) | {"dimension": Dimension.SEX}
    bands = by_group(outcomes_by(FIXTURE, Dimension.AGE_BAND))
    assert list(bands) == ["18-25", "26-35"] and bands["18-25"].cases == 20


def test_race_and_ethnicity_breakdowns_cover_everyone() -> None:
    report = outcomes_report(FIXTURE)
    assert list(report) == ["program", "race", "ethnicity", "sex", "age_band"]
    assert {c.group: c.cases for c in report["race"]} == {"Black": 19, "White": 21}
    [unknown] = report["ethnicity"]
    assert (unknown.group, unknown.cases) == ("unknown", 40)


def test_age_bands() -> None:
    assert [age_band(a) for a in (None, 17, 18, 25, 26, 55, 56)] == [
        "unknown",
        "under_18",
        "18-25",
        "18-25",
        "26-35",
        "46-55",
        "56_plus",
    ]


def test_caseload_shows_open_cases_against_cap() -> None:
    managers = [
        CaseManager(
            id="cm-1", agency_id="stl-cao", name="Avery", programs=frozenset({"p1"}), caseload_cap=20
        ),
        CaseManager(id="cm-2", agency_id="stl-cao", name="Blake", programs=frozenset({"p2"}), caseload_cap=1),
        CaseManager(id="cm-3", agency_id="stl-cao", name="Casey", programs=frozenset({"p2"}), active=False),
    ]
    report = caseload_report(managers, FIXTURE)
    assert [(r.case_manager_id, r.active_cases, r.cap, r.utilization, r.over_cap) for r in report] == [
        ("cm-1", 0, 20, 0.0, False),
        ("cm-2", 2, 1, 2.0, True),
    ]


def test_overdue_items_list_late_work_on_open_cases_oldest_first() -> None:
    now = datetime(2025, 5, 10, 12, 0)
    clocks = [
        CaseClock(
            case_id="c-1",
            agency_id="a",
            state=CaseState.ACTIVE,
            case_manager_id="cm-1",
            start_date=date(2025, 1, 1),
            expected_end_date=date(2025, 5, 1),
            last_contact_at=datetime(2025, 5, 9),
        ),
        CaseClock(
            case_id="c-closed",
            agency_id="a",
            state=CaseState.COMPLETED,
            case_manager_id="cm-1",
            start_date=date(2025, 1, 1),
            expected_end_date=date(2025, 3, 1),
        ),
    ]
    contacts = [Contact(id="k-1", case_id="c-1", agency_id="a", scheduled_for=datetime(2025, 5, 5, 9, 0))]
    plan = SupportPlan(
        case_id="c-1",
        agency_id="a",
        version=2,
        updated_on=date(2025, 2, 1),
        updated_by="cm-1",
        goals=[
            Goal(
                id="g-1",
                domain=NeedDomain.EMPLOYMENT,
                description="Job",
                target_date=date(2025, 4, 1),
                tasks=[
                    Task(id="t-1", description="Apply", due_date=date(2025, 4, 20)),
                    Task(id="t-2", description="Done", due_date=date(2025, 3, 1), done=True),
                ],
            ),
            Goal(
                id="g-2",
                domain=NeedDomain.HOUSING,
                description="Lease",
                target_date=date(2025, 3, 1),
                status=GoalStatus.ACHIEVED,
            ),
        ],
    )
    items = overdue_items(now=now, clocks=clocks, contacts=contacts, plans=[plan])
    assert [(i.kind, i.ref, i.due, i.days_overdue) for i in items] == [
        (OverdueKind.GOAL_PAST_TARGET, "g-1", date(2025, 4, 1), 39),
        (OverdueKind.TASK_PAST_DUE, "t-1", date(2025, 4, 20), 20),
        (OverdueKind.PAST_EXPECTED_END, None, date(2025, 5, 1), 9),
        (OverdueKind.CHECKIN_OVERDUE, "k-1", date(2025, 5, 5), 5),
    ]
    assert {i.case_manager_id for i in items} == {"cm-1"}


def test_reports_render_as_json_and_csv_with_blank_withheld_cells() -> None:
    cells = outcomes_by(FIXTURE, Dimension.PROGRAM)
    data = json.loads(json.dumps(to_jsonable(cells)))
    assert data[1]["group"] == "p2" and data[1]["cases"] is None and data[1]["suppressed"] is True
    parsed = list(csv.DictReader(io.StringIO(to_csv(cells))))
    assert [r["group"] for r in parsed] == ["p1", "p2", "p3"]
    assert (parsed[0]["cases"], parsed[0]["completion_rate"], parsed[0]["suppressed"]) == (
        "20",
        "0.5",
        "False",
    )
    assert (parsed[1]["cases"], parsed[1]["suppressed"]) == ("", "True")
    assert parsed[2]["suppressed_fields"] == "open;terminated;completion_rate;termination_rate"
    assert to_csv([]) == ""
