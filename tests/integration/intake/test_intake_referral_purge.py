"""Issue 16 item 3 for intake (ADR 0082): with a controlled clock, screened-ineligible referrals past
`referral.ineligible` and declined referrals past `referral.declined` are deleted with their defendant,
charges, history, screenings, decisions and judgements, and nothing else (an accepted or pending referral of
the same age stays); the counts go to the audit trail without any personal data."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from services.intake.models import (
    ChargeRow,
    DecisionRow,
    DefendantRow,
    HistoryRow,
    JudgementRow,
    ReferralRow,
    ScreeningRow,
)
from shared.upkeep import purge
from tests.support.databases import migrated, row_counts

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)  # the controlled clock (the audit trigger allows no future)
AGENCY = "t-intake-purge"  # no pack of its own: referral.ineligible 365 days, referral.declined 730
TABLES = ("referral", "defendant", "charge", "criminal_history", "screening", "decision", "judgement")


@pytest.fixture
def intake_db() -> Iterator[Engine]:
    with migrated("intake", "referral_purge") as engine:
        yield engine


def _referral(session: Session, label: str, *, status: str, recommendation: str, age_days: float) -> str:
    """A referral last changed `age_days` ago, with one row in each child table."""
    at = NOW - dt.timedelta(days=age_days)
    referral_id = str(uuid.uuid4())
    session.add(ReferralRow(
        id=referral_id, agency_id=AGENCY, source="api", case_number=f"N-{label}", case_key=f"n-{label}",
        person_key=f"person-{label}", offense_date=dt.date(2020, 1, 1), status=status, version=2,
        recommendation=recommendation, received_at=at - dt.timedelta(days=3), received_by="screener-1",
        updated_at=at))
    session.flush()
    session.add_all([
        DefendantRow(referral_id=referral_id, agency_id=AGENCY, first_name=f"Name-{label}", last_name="Example",
                     date_of_birth=dt.date(2000, 1, 1), phone="+13145550100"),
        ChargeRow(referral_id=referral_id, position=1, statute="570.030", description="stealing",
                  offense_class="misdemeanor_a", offense_date=dt.date(2020, 1, 1)),
        HistoryRow(referral_id=referral_id, convictions=[], prior_diversions=[], pending_cases=0),
        ScreeningRow(referral_id=referral_id, agency_id=AGENCY, ruleset_version="v1", ruleset_hash="h",
                     screened_on=at.date(), recommendation=recommendation, result={"programs": []},
                     trigger="submitted", screened_at=at, screened_by="screener-1"),
        DecisionRow(referral_id=referral_id, agency_id=AGENCY, kind="decline" if status == "declined" else "accept",
                    decided_by="prosecutor-1", decided_at=at),
        JudgementRow(referral_id=referral_id, agency_id=AGENCY, kind="program", program="young-adult",
                     outcome="ineligible", reason="too many priors", judged_by="screener-1", judged_at=at),
    ])
    return referral_id


def _counts(engine: Engine) -> dict[str, int]:
    return row_counts(engine, ReferralRow.metadata, TABLES)


def _ids(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.scalars(select(ReferralRow.id)))


def test_ineligible_and_declined_referrals_past_retention_go_with_their_children(intake_db: Engine) -> None:
    with Session(intake_db) as session:
        old_ineligible = _referral(session, "old-inel", status="screened", recommendation="ineligible", age_days=366)
        old_declined = _referral(session, "old-decl", status="declined", recommendation="eligible", age_days=731)
        young = {
            _referral(session, "young-inel", status="screened", recommendation="ineligible", age_days=364),
            _referral(session, "young-decl", status="declined", recommendation="eligible", age_days=729),
            # a declined referral of the ineligible age: declined is kept 730 days
            _referral(session, "decl-400", status="declined", recommendation="ineligible", age_days=400),
            # as old as the oldest, but not ineligible nor declined: kept whatever their age
            _referral(session, "pending", status="screened", recommendation="eligible", age_days=3000),
            _referral(session, "accepted", status="accepted", recommendation="eligible", age_days=3000),
            _referral(session, "deferred", status="deferred", recommendation="ineligible", age_days=3000),
            _referral(session, "disposed", status="disposed", recommendation="eligible", age_days=3000),
        }
        session.commit()
    before = _counts(intake_db)
    assert before == {name: 9 for name in TABLES}

    dry = purge(intake_db, "intake", NOW, dry_run=True)
    assert dry.counts["referral.ineligible"] == {"referral": 1}
    assert dry.counts["referral.declined"] == {"referral": 1}
    assert _counts(intake_db) == before  # a dry run deletes nothing

    report = purge(intake_db, "intake", NOW)
    assert report.counts["referral.ineligible"] == {"referral": 1}
    assert report.counts["referral.declined"] == {"referral": 1}
    assert report.total() == 2  # nothing else in this database is past retention
    after = _counts(intake_db)
    assert {name: before[name] - after[name] for name in TABLES} == {name: 2 for name in TABLES}
    assert _ids(intake_db) == young and not {old_ineligible, old_declined} & _ids(intake_db)
    with intake_db.connect() as conn:  # the children left are exactly the young referrals'
        for name in TABLES[1:]:
            column = ReferralRow.metadata.tables[name].c.referral_id
            assert set(conn.scalars(select(column))) == young, name

    with intake_db.connect() as conn:
        audit = ReferralRow.metadata.tables["audit_event"]
        rows = conn.execute(select(audit.c.agency_id, audit.c.detail).where(audit.c.action == "records.purged")).all()
    details: list[Any] = [row.detail if isinstance(row.detail, dict) else json.loads(row.detail) for row in rows]
    assert [row.agency_id for row in rows] == [None]  # the agency has no pack of its own
    assert details[0]["counts"]["referral.ineligible"] == 1 and details[0]["counts"]["referral.declined"] == 1
    text = json.dumps(details)
    assert "Example" not in text and "old-inel" not in text and old_declined not in text

    again = purge(intake_db, "intake", NOW)  # nothing left past retention
    assert again.total() == 0 and _counts(intake_db) == after
