"""The embedded default (SQLite): a case opens once and a due alert is recorded once, as on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from services.casework.models import CaseRecord, Staff, SupervisionAlert
from services.casework.settings import CaseworkSettings
from services.casework.usecases import supervision as sweeps
from services.casework.usecases.events import open_case_from_referral
from shared import migrations
from shared.db import make_engine
from shared.messaging.outbox import record
from tests.integration.casework.conftest import referral


def test_case_opens_once_and_alerts_dedupe_on_sqlite(tmp_path):
    url = f"sqlite:///{tmp_path / 'casework.db'}"
    migrations.upgrade("casework", url)
    engine = make_engine(url)
    settings = CaseworkSettings()
    event = referral("stl-cao")
    with Session(engine) as session, session.begin():
        session.add(Staff(id="s-1", agency_id="stl-cao", name="CM", email="cm@example.org", role="case_manager",
                          programs=["young-adult"], caseload_cap=5, active=True, subject="cm-1"))
    for _ in range(2):
        with Session(engine) as session, session.begin():
            open_case_from_referral(session, lambda e: record(session, e, service="casework"), event, settings)
    with Session(engine) as session, session.begin():
        case = session.scalars(select(CaseRecord)).one()
        assert (case.state, case.case_manager_id) == ("active", "s-1")
        session.execute(update(CaseRecord).values(start_date=date.today() - timedelta(days=60),
                                                  expected_end_date=date.today() + timedelta(days=5)))
    published = []
    for _ in range(2):
        with Session(engine) as session, session.begin():
            published.append(sweeps.supervision_sweep(session, lambda e: record(session, e, service="casework"),
                                                 settings, datetime.now(UTC)))
    assert published == [2, 0]  # no contact for 60 days, and the end in 5 days: once each
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(SupervisionAlert)) == 2
    engine.dispose()
