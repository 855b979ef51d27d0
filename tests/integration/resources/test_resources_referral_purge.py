"""Issue 16 item 3 for resources (ADR 0082): with a controlled clock, service referrals in a final status past
`service_referral.closed` are deleted with their history and sealing marks, and the case's caseload row when
that took the case's last referral and the row is as old; open referrals, younger ones and caseload rows still
in use stay. The counts go to the audit trail without any personal data."""

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

from services.resources.models import CaseloadEntry, ServiceReferral, ServiceReferralHistory
from shared.records import TABLES as RECORDS
from shared.upkeep import purge
from tests.support.databases import migrated, row_counts

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)  # the controlled clock (the audit trigger allows no future)
AGENCY = "t-resources-purge"  # no pack of its own: service_referral.closed 730 days
TABLES = ("service_referral", "service_referral_history", "caseload_entry", "record_mark")


@pytest.fixture
def resources_db() -> Iterator[Engine]:
    with migrated("resources", "referral_purge") as engine:
        yield engine


def _ago(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


def _mark(session: Session, kind: str, record_id: str) -> None:
    session.execute(RECORDS.marks.insert().values(agency_id=AGENCY, kind=kind, record_id=record_id, mark="sealed",
                                                  request_id=f"q-{record_id}", marked_at=_ago(800)))


def _referral(session: Session, case_id: str, status: str, age_days: float, *, sealed: bool = False) -> str:
    """A referral last changed `age_days` ago, with two history rows."""
    referral_id = str(uuid.uuid4())
    session.add(ServiceReferral(
        id=referral_id, agency_id=AGENCY, case_id=case_id, participant_id=f"p-{case_id}",
        participant_name="Jane Example", phone="+13145550100", email="jane@example.org", need="housing help",
        service_id=str(uuid.uuid4()), organization_id="org-1", consent_id="con-1",
        consent_categories=["contact_info"], consent_purpose="service_referral", status=status,
        requested_by="cm-1", requested_at=_ago(age_days + 30), respond_by=_ago(age_days + 20),
        updated_at=_ago(age_days)))
    session.flush()
    session.add_all([
        ServiceReferralHistory(service_referral_id=referral_id, agency_id=AGENCY, from_status=None,
                               to_status="requested", changed_by="cm-1", changed_by_role="agency",
                               changed_at=_ago(age_days + 30)),
        ServiceReferralHistory(service_referral_id=referral_id, agency_id=AGENCY, from_status="requested",
                               to_status=status, note="Jane moved away", changed_by="org-1",
                               changed_by_role="partner", changed_at=_ago(age_days)),
    ])
    if sealed:
        _mark(session, "service_referral", referral_id)
    return referral_id


def _caseload(session: Session, case_id: str, age_days: float, *, sealed: bool = False) -> None:
    session.add(CaseloadEntry(agency_id=AGENCY, case_id=case_id, participant_id=f"p-{case_id}", case_manager="cm-1",
                              assigned_at=_ago(age_days), updated_at=_ago(age_days)))
    if sealed:
        _mark(session, "case", case_id)


def _counts(engine: Engine) -> dict[str, int]:
    return row_counts(engine, ServiceReferral.metadata, TABLES)


def _kept(engine: Engine) -> dict[str, set[Any]]:
    with engine.connect() as conn:
        return {"service_referral": set(conn.scalars(select(ServiceReferral.id))),
                "service_referral_history": set(conn.scalars(select(ServiceReferralHistory.service_referral_id))),
                "caseload_entry": set(conn.scalars(select(CaseloadEntry.case_id))),
                "record_mark": set(conn.scalars(select(RECORDS.marks.c.record_id)))}


def test_closed_service_referrals_past_retention_go_with_their_history(resources_db: Engine) -> None:
    with Session(resources_db) as session:
        # c1: both referrals final and old, its caseload row as old: everything of the case goes
        _referral(session, "c1", "completed", 731, sealed=True)
        _referral(session, "c1", "cancelled", 800, sealed=True)
        _caseload(session, "c1", 900, sealed=True)
        # c2: the rejected referral goes; an open one as old as any stays, and so does the caseload row
        _referral(session, "c2", "rejected", 731)
        open_old = _referral(session, "c2", "in-progress", 3000)
        _caseload(session, "c2", 900)
        # c3: a failed referral younger than the retention stays (with its mark)
        young = _referral(session, "c3", "failed", 729, sealed=True)
        _caseload(session, "c3", 900)
        # c4: its last referral goes, but the caseload row changed lately (reassigned): the row stays
        _referral(session, "c4", "completed", 731)
        _caseload(session, "c4", 100)
        # c5: a requested referral never answered stays; c6: a caseload row without referrals stays
        requested = _referral(session, "c5", "requested", 3000)
        _caseload(session, "c6", 3000)
        session.commit()
    before = _counts(resources_db)
    assert before == {"service_referral": 7, "service_referral_history": 14, "caseload_entry": 5, "record_mark": 4}
    expected = {"service_referral": 4, "service_referral_history": 8, "caseload_entry": 1, "record_mark": 3}

    dry = purge(resources_db, "resources", NOW, dry_run=True)
    assert dry.counts["service_referral.closed"] == expected
    assert _counts(resources_db) == before  # a dry run deletes nothing

    report = purge(resources_db, "resources", NOW)
    assert report.counts["service_referral.closed"] == expected
    assert report.total() == 16  # nothing else in this database is past retention
    after = _counts(resources_db)
    assert {name: before[name] - after[name] for name in TABLES} == expected
    assert _kept(resources_db) == {
        "service_referral": {open_old, young, requested},
        "service_referral_history": {open_old, young, requested},
        "caseload_entry": {"c2", "c3", "c4", "c6"},
        "record_mark": {young}}

    with resources_db.connect() as conn:
        audit = ServiceReferral.metadata.tables["audit_event"]
        rows = conn.execute(select(audit.c.agency_id, audit.c.detail).where(audit.c.action == "records.purged")).all()
    details: list[Any] = [row.detail if isinstance(row.detail, dict) else json.loads(row.detail) for row in rows]
    assert [row.agency_id for row in rows] == [None]  # the agency has no pack of its own
    assert details[0]["counts"]["service_referral.closed"] == 16
    text = json.dumps(details)
    assert "Jane" not in text and "housing" not in text and "c1" not in text and "cm-1" not in text

    again = purge(resources_db, "resources", NOW)  # nothing left past retention
    assert again.total() == 0 and _counts(resources_db) == after
