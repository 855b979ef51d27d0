"""`diversion referrals import`: CSV and NDJSON into intake's database, with a per-row error report."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from intake_api_support import install_pack, referral_body

from services.intake.cli import import_referrals, unflatten
from tests.conftest import JWT_SECRET, make_token

HEADER = ("source,case_number,external_id,defendant.first_name,defendant.last_name,defendant.date_of_birth,"
          "defendant.race,charges.0.statute,charges.0.description,charges.0.offense_class,charges.0.offense_date,"
          "charges.0.violent,charges.1.statute,charges.1.description,charges.1.offense_class,"
          "charges.1.offense_date,history.convictions.0.date,history.convictions.0.offense_class,"
          "history.pending_cases\n")


@pytest.fixture
def env(pg_databases, tmp_path):
    return {"DIVERSION_INTAKE_DATABASE_URL": pg_databases["intake"], "DIVERSION_DATA_DIR": str(tmp_path),
            "DIVERSION_JWT_SECRET": JWT_SECRET}


def test_dotted_csv_headers_become_the_referral_shape():
    assert unflatten({"defendant.first_name": "Dana", "charges.0.statute": "570.030", "charges.2.statute": "579.015",
                      "charges.1.statute": "", "history.pending_cases": " 2 "}) == {
        "defendant": {"first_name": "Dana"},
        "charges": [{"statute": "570.030"}, {"statute": "579.015"}],
        "history": {"pending_cases": "2"},
    }


def test_csv_import_creates_screened_referrals_reports_bad_rows_and_a_rerun_creates_nothing(
        start_service, agency, env, tmp_path):
    api = start_service("intake")
    install_pack(api, agency)
    path = tmp_path / "referrals.csv"
    path.write_text(
        HEADER
        + "police,2611-CR20001,,Dana,Brooks,2003-04-05,Black,570.030,Stealing,felony_d,2026-03-01,false,"
          "579.015,Possession,felony_d,2026-03-01,,,0\n"
        + "court,2611-CR20002,CAO-9,Ana,Diaz,1980-02-02,,570.090,Forgery,felony_e,2026-02-01,,,,,,"
          "2019-05-01,felony_d,1\n"
        + "police,2611-CR20003,,Bad,Date,2030-01-01,,570.030,Stealing,felony_d,2026-03-01,,,,,,,,0\n"
    )
    runner = CliRunner()
    first = runner.invoke(import_referrals, [str(path), "--agency", agency], env=env)
    assert first.exit_code == 1, first.output
    assert "2 created, 0 already there, 1 invalid" in first.output
    assert "line 4: defendant.date_of_birth: " in first.output
    second = runner.invoke(import_referrals, [str(path), "--agency", agency], env=env)
    assert "0 created, 2 already there, 1 invalid" in second.output

    items = api.get("/v1/referrals", token=make_token(agency, ("supervisor",))).json()["items"]
    assert sorted(i["case_number"] for i in items) == ["2611-CR20001", "2611-CR20002"]
    dana = next(i for i in items if i["case_number"] == "2611-CR20001")
    detail = api.get(f"/v1/referrals/{dana['id']}", token=make_token(agency, ("supervisor",))).json()
    assert [c["statute"] for c in detail["charges"]] == ["570.030", "579.015"]
    assert detail["charges"][0]["violent"] is False
    assert detail["screening"]["recommendation"] == "eligible"
    ana = next(i for i in items if i["case_number"] == "2611-CR20002")
    assert ana["external_id"] == "CAO-9"
    audit = api.get("/v1/audit", token=make_token(agency, ("auditor",)),
                    params={"action": "referral.batch_created"}).json()["items"]
    assert len(audit) == 1 and audit[0]["actor"].startswith("cli:")
    assert set(audit[0]["detail"]["ids"]) == {i["id"] for i in items}


def test_ndjson_import_uses_the_same_natural_key_as_the_api(start_service, agency, env, tmp_path):
    api = start_service("intake")
    install_pack(api, agency)
    body = referral_body(case_number="2611-CR30001")
    created = api.post("/v1/referrals", token=make_token(agency, ("screener",)), json=body).json()
    path = tmp_path / "referrals.ndjson"
    path.write_text(json.dumps(body) + "\n" + "{not json\n" + json.dumps(referral_body()) + "\n")
    result = CliRunner().invoke(import_referrals, [str(path), "--agency", agency], env=env)
    assert "1 created, 1 already there, 1 invalid" in result.output, result.output
    assert "line 2: (line): not JSON" in result.output
    items = api.get("/v1/referrals", token=make_token(agency, ("supervisor",))).json()["items"]
    assert len(items) == 2 and created["id"] in {i["id"] for i in items}


def test_import_for_an_agency_without_a_ruleset_stops_before_reading(agency, env, tmp_path):
    path = tmp_path / "referrals.ndjson"
    path.write_text(json.dumps(referral_body()) + "\n")
    result = CliRunner().invoke(import_referrals, [str(path), "--agency", agency], env=env)
    assert result.exit_code == 1
    assert "no ruleset configured" in result.output
