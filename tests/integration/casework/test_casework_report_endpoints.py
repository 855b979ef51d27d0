"""Reports against a fixture counted by hand: caseloads, overdue items, and outcomes by program and
demographics with every cell under 10 people suppressed, as JSON and as CSV."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from services.casework.domain.reports import age_band
from services.casework.models import CaseRecord, Participant
from shared.messaging.catalog import Demographics
from tests.integration.casework.conftest import make_case_due_everything

START, CLOSED = date(2025, 1, 1), date(2025, 7, 1)  # 181 days in the program


def build_fixture(tenant):
    """17 cases: young-adult 10 completed + 2 terminated (female); limited-history 5 open (male).
    Race: black = 7 completed young-adult + 3 open limited-history; white = the other 7. No ethnicity given."""
    tenant.add_staff("cm-1", cap=50, programs=("young-adult", "limited-history"))
    young = [tenant.open_case(program="young-adult", demographics=Demographics(sex="female",
                                                                                race="black" if i < 7 else "white"))
             for i in range(12)]
    limited = [tenant.open_case(program="limited-history",
                                demographics=Demographics(sex="male", race="black" if i < 3 else "white"))
               for i in range(5)]
    with Session(tenant.engine) as session, session.begin():
        for i, case_id in enumerate(young):
            session.execute(update(CaseRecord).where(CaseRecord.id == case_id).values(
                state="completed" if i < 10 else "terminated", start_date=START, closed_on=CLOSED,
                disposition="dismissal" if i < 10 else None, termination_reason=None if i < 10 else "other"))
        for case_id in young + limited:
            row = session.get(CaseRecord, case_id)
            session.execute(update(CaseRecord).where(CaseRecord.id == case_id).values(
                referred_on=row.opened_on - timedelta(days=3)))
        assert session.query(Participant).filter(Participant.agency_id == tenant.slug).count() == 17


def cell(report, dimension, group):
    return next(c for c in report[dimension] if c["group"] == group)


SHOWN = ("cases", "open", "completed", "terminated", "withdrawn", "completion_rate", "termination_rate",
         "avg_days_in_program", "avg_days_referral_to_open")


def values(c):
    return tuple(c[k] for k in SHOWN)


def test_outcomes_report_matches_the_hand_count_with_small_cells_suppressed(tenant):
    build_fixture(tenant)
    response = tenant.api.get("/v1/reports/outcomes", token=tenant.auditor)
    assert response.status_code == 200, response.text
    report = response.json()
    assert set(report) == {"program", "race", "ethnicity", "sex", "age_band"}
    # young-adult: terminated (2) is small, so the next smallest count (open, 0) is withheld with it
    assert values(cell(report, "program", "young-adult")) == (12, None, 10, None, 0, None, None, 181.0, 3.0)
    assert cell(report, "program", "young-adult")["suppressed_fields"] == [
        "open", "terminated", "completion_rate", "termination_rate"]
    assert values(cell(report, "program", "limited-history")) == (None,) * 9  # 5 people: all withheld
    assert values(cell(report, "sex", "female")) == values(cell(report, "program", "young-adult"))
    assert values(cell(report, "sex", "male")) == (None,) * 9
    # black: 3 open + 7 completed; both small; 7 durations are too few for an average
    assert values(cell(report, "race", "black")) == (10, None, None, 0, 0, None, None, None, 3.0)
    assert values(cell(report, "race", "white")) == (None,) * 9
    # 17 with no ethnicity given; 5 open and 2 terminated are small
    assert values(cell(report, "ethnicity", "unknown")) == (17, None, 10, None, 0, None, None, 181.0, 3.0)
    today = date.today()
    age = today.year - 2001 - ((today.month, today.day) < (5, 17))  # every fixture person was born 2001-05-17
    assert [c["group"] for c in report["age_band"]] == [age_band(age)]
    assert report["age_band"][0]["cases"] == 17

    one = tenant.api.get("/v1/reports/outcomes", token=tenant.supervisor, params={"dimension": "race"}).json()
    assert list(one) == ["race"]

    as_csv = tenant.api.get("/v1/reports/outcomes", token=tenant.auditor, params={"format": "csv"})
    assert as_csv.status_code == 200
    assert as_csv.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    black = next(r for r in rows if r["dimension"] == "race" and r["group"] == "black")
    assert (black["cases"], black["open"], black["completed"], black["avg_days_referral_to_open"]) == (
        "10", "", "", "3.0")
    assert len(rows) == sum(len(cells) for cells in report.values())


def test_caseload_report_counts_open_cases_against_the_cap(tenant):
    build_fixture(tenant)
    rows = tenant.api.get("/v1/reports/caseload", token=tenant.supervisor).json()
    assert [(r["name"], r["active_cases"], r["cap"], r["utilization"], r["over_cap"]) for r in rows] == [
        ("Staff cm-1", 5, 50, 0.1, False)]
    as_csv = tenant.api.get("/v1/reports/caseload", token=tenant.supervisor, params={"format": "csv"})
    assert as_csv.text.splitlines()[0] == "case_manager_id,name,active,active_cases,cap,utilization,over_cap"
    assert tenant.api.get("/v1/reports/caseload", token=tenant.manager_token()).status_code == 403


def test_overdue_report_lists_what_is_late_oldest_first(tenant):
    tenant.add_staff("cm-1")
    case_id = make_case_due_everything(tenant)
    items = tenant.api.get("/v1/reports/overdue", token=tenant.supervisor).json()
    assert sorted(i["kind"] for i in items if i["case_id"] == case_id) == ["checkin_overdue", "no_contact"]
    assert [i["due"] for i in items] == sorted(i["due"] for i in items)
    as_csv = tenant.api.get("/v1/reports/overdue", token=tenant.auditor, params={"format": "csv"})
    assert as_csv.headers["Content-Type"].startswith("text/csv") and case_id in as_csv.text
