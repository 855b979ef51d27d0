"""Migration casework_0012 carries progress recorded before the ledger into it, so no balance moves (and back)."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime

from sqlalchemy import text

from shared import migrations
from shared.db import make_engine
from tests.conftest import create_database, drop_database

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)


def test_progress_before_the_ledger_becomes_one_entry_per_condition_and_returns_on_downgrade():
    name = f"diversion_test_mig_ledger_{os.getpid()}"
    url = create_database(name)
    engine = make_engine(url)
    try:
        migrations.upgrade("casework", url, "casework_0003")
        with engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO participant (id, agency_id, first_name, last_name, date_of_birth, preferred_language,"
                " created_at) VALUES ('p1', 'a', 'J', 'D', '2000-01-01', 'en', :now)"), {"now": NOW})
            connection.execute(text(
                "INSERT INTO diversion_case (id, agency_id, referral_id, case_number, participant_id, program_id,"
                " min_months, max_months, state, opened_on, extensions, version, created_at, updated_at) VALUES"
                " ('c1', 'a', 'r1', 'n1', 'p1', 'young-adult', 6, 18, 'active', '2026-04-01', 0, 1, :now, :now)"),
                {"now": NOW})
            for cid, unit, required, done, met_on in (("money", "dollars", "300.00", "120.50", None),
                                                      ("hours", "hours", "40.00", "40.00", "2026-04-20"),
                                                      ("none", "dollars", "10.00", "0", None)):
                connection.execute(text(
                    "INSERT INTO case_condition (id, agency_id, case_id, kind, description, unit, required_amount,"
                    " completed_amount, met, met_on, version, created_at) VALUES (:id, 'a', 'c1', 'make_whole',"
                    " 'x', :unit, :required, :done, :met, :met_on, 1, :now)"),
                    {"id": cid, "unit": unit, "required": required, "done": done, "met": met_on is not None,
                     "met_on": met_on, "now": NOW})
        migrations.upgrade("casework", url, "casework_0012")
        with engine.connect() as connection:
            payments = connection.execute(text(
                "SELECT condition_id, amount_cents, method, paid_on FROM condition_payment")).all()
            hours = connection.execute(text("SELECT condition_id, hours, served_on FROM condition_hours")).all()
        assert [(p[0], p[1], p[2], p[3]) for p in payments] == [("money", 12050, "other", date(2026, 5, 1))]
        assert [(h[0], str(h[1]), h[2]) for h in hours] == [("hours", "40.00", date(2026, 4, 20))]
        migrations.downgrade("casework", url, "casework_0003")
        with engine.connect() as connection:
            restored = dict(connection.execute(text("SELECT id, completed_amount FROM case_condition")).all())
        assert {k: str(v) for k, v in restored.items()} == {"money": "120.50", "hours": "40.00", "none": "0.00"}
    finally:
        engine.dispose()
        drop_database(name)
