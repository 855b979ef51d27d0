"""Issue 16 item 3 for casework (ADR 0082): with a controlled clock, closed cases past `case.closed` and
sealed cases past `case.sealed` are deleted with everything about them (and their participant), and nothing
else; the counts go to the audit trail without any personal data."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from services.casework.models import CaseAssignment, CaseRecord, Participant
from shared.records import TABLES as RECORDS
from shared.upkeep import purge
from tests.support.databases import migrated, row_counts

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)  # the controlled clock (the audit trigger allows no future)
AGENCY = "stl-cao"  # its pack leaves case.closed and case.sealed at the default 2,555 days
TABLES = ("diversion_case", "participant", "case_assignment", "record_mark")


@pytest.fixture
def casework_db() -> Iterator[Engine]:
    with migrated("casework", "case_purge") as engine:
        yield engine


def _case(session: Session, label: str, *, closed_years: float | None, sealed_years: float | None) -> str:
    person = Participant(id=f"p-{label}", agency_id=AGENCY, first_name=label, last_name="Example",
                         date_of_birth=dt.date(2000, 1, 1), created_at=NOW - dt.timedelta(days=4000))
    session.add(person)
    session.flush()
    closed_on = (NOW - dt.timedelta(days=365 * closed_years)).date() if closed_years is not None else None
    case = CaseRecord(id=f"c-{label}", agency_id=AGENCY, referral_id=f"r-{label}", case_number=f"N-{label}",
                      participant_id=person.id, program_id="young-adult", min_months=6, max_months=12,
                      state="completed" if closed_on else "active", opened_on=dt.date(2024, 1, 1),
                      closed_on=closed_on, disposition="dismissal" if closed_on else None,
                      created_at=NOW - dt.timedelta(days=4000), updated_at=NOW - dt.timedelta(days=4000))
    session.add(case)
    session.flush()
    session.add(CaseAssignment(agency_id=AGENCY, case_id=case.id, case_manager_id="cm-1",
                               assigned_at=NOW - dt.timedelta(days=4000)))
    if sealed_years is not None:
        session.execute(RECORDS.marks.insert().values(
            agency_id=AGENCY, kind="case", record_id=case.id, mark="sealed", request_id=f"q-{label}",
            marked_at=NOW - dt.timedelta(days=365 * sealed_years)))
    return case.id


def _counts(engine: Engine) -> dict[str, int]:
    return row_counts(engine, CaseRecord.metadata, TABLES)  # record_mark is in every service's metadata


def _ids(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.scalars(select(CaseRecord.id)))


def test_closed_and_sealed_cases_past_retention_go_with_everything_about_them(casework_db: Engine) -> None:
    with Session(casework_db) as session:
        old_closed = _case(session, "old-closed", closed_years=8, sealed_years=None)
        old_sealed = _case(session, "old-sealed", closed_years=9, sealed_years=8)
        _case(session, "closed-long-ago-sealed-lately", closed_years=8, sealed_years=1)  # kept: sealed 1 year
        _case(session, "young-closed", closed_years=1, sealed_years=None)
        _case(session, "open", closed_years=None, sealed_years=None)
        session.commit()
    before = _counts(casework_db)
    assert before == {"diversion_case": 5, "participant": 5, "case_assignment": 5, "record_mark": 2}

    dry = purge(casework_db, "casework", NOW, dry_run=True)
    assert dry.counts["case.closed"]["diversion_case"] == 1 and dry.counts["case.sealed"]["diversion_case"] == 1
    assert _counts(casework_db) == before

    report = purge(casework_db, "casework", NOW)
    after = _counts(casework_db)
    assert {name: before[name] - after[name] for name in TABLES} == {
        "diversion_case": 2, "participant": 2, "case_assignment": 2, "record_mark": 1}
    assert old_closed not in _ids(casework_db) and old_sealed not in _ids(casework_db) and len(_ids(casework_db)) == 3
    assert report.counts["case.closed"]["diversion_case"] == 1
    assert report.counts["case.sealed"]["diversion_case"] == 1
    assert report.counts["case.sealed"]["record_mark"] == 1

    with casework_db.connect() as conn:
        audit = CaseRecord.metadata.tables["audit_event"]
        rows = conn.execute(select(audit.c.detail).where(audit.c.action == "records.purged")).all()
    details: list[Any] = [row.detail if isinstance(row.detail, dict) else json.loads(row.detail) for row in rows]
    assert any(d["counts"].get("case.closed") and d["counts"].get("case.sealed") for d in details)
    assert "old-closed" not in json.dumps(details) and "Example" not in json.dumps(details)

    again = purge(casework_db, "casework", NOW)  # nothing left past retention
    assert again.counts.get("case.closed", {}).get("diversion_case", 0) == 0 and _counts(casework_db) == after
