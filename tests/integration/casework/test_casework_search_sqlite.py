"""Participant search on the embedded default (SQLite): the stored search key, not an extension, does the
accent-insensitive matching; the migration fills the key of participants that existed before it."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import text

from shared import migrations
from shared.db import make_engine
from tests.conftest import make_token


@pytest.mark.sqlite
def test_search_by_an_unaccented_prefix_on_sqlite_including_rows_from_before_the_migration(start_service, tmp_path):
    url = f"sqlite:///{tmp_path / 'casework.db'}"
    migrations.upgrade("casework", url, "casework_0003")
    engine = make_engine(url)
    now = datetime.now(UTC)
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO staff (id, agency_id, name, email, role, programs, caseload_cap, active, subject) "
            "VALUES ('s-1', 'stl-cao', 'CM', 'cm@example.org', 'case_manager', '[\"young-adult\"]', 5, 1, 'cm-1')"))
        for pid, first, last in (("p-1", "José", "Álvarez"), ("p-2", "Renée", "Ñúñez")):
            connection.execute(text(
                "INSERT INTO participant (id, agency_id, first_name, last_name, date_of_birth, preferred_language, "
                "created_at) VALUES (:id, 'stl-cao', :first, :last, :born, 'es', :now)"),
                {"id": pid, "first": first, "last": last, "born": date(1990, 2, 3), "now": now})
            connection.execute(text(
                "INSERT INTO diversion_case (id, agency_id, referral_id, case_number, participant_id, program_id, "
                "min_months, max_months, state, case_manager_id, opened_on, extensions, version, created_at, "
                "updated_at) VALUES (:cid, 'stl-cao', :cid, :cid, :id, 'young-adult', 6, 18, 'active', "
                "CASE WHEN :id = 'p-1' THEN 's-1' ELSE NULL END, :today, 0, 1, :now, :now)"),
                {"cid": f"c-{pid}", "id": pid, "today": date.today(), "now": now})
    migrations.upgrade("casework", url)
    engine.dispose()
    api = start_service("casework", database_url=url)
    supervisor = make_token("stl-cao", ("supervisor",), sub="sup-1")
    manager = make_token("stl-cao", ("case_manager",), sub="cm-1")

    def names(token, **params):
        response = api.get("/v1/participants", token=token, params=params)
        assert response.status_code == 200, response.text
        return [i["last_name"] for i in response.json()["items"]]

    assert names(supervisor, name="jose") == ["Álvarez"]
    assert names(supervisor, name="NUN") == ["Ñúñez"]
    assert names(supervisor, name="renee nu") == ["Ñúñez"]
    assert names(manager, name="nunez") == []  # not on cm-1's caseload
    assert names(manager, name="alvarez") == ["Álvarez"]
    assert names(supervisor, name="j_se") == []  # a LIKE wildcard is a literal
