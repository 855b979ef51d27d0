"""`diversion reports` against running intake and casework services: the same figures as the API, as a table,
CSV and JSON; a clear error where the suite's secret or the service is missing."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent / "intake"))

from intake_api_support import install_pack, referral_body

from shared.reports_cli import reports
from tests.conftest import JWT_SECRET, free_port, make_token


def test_reports_print_the_apis_figures_as_table_csv_and_json(start_service, agency, tmp_path):
    intake = start_service("intake")
    casework = start_service("casework")
    install_pack(intake, agency)
    response = intake.post("/v1/referrals:batch", token=make_token(agency, ("screener",)),
                           json=[referral_body() for _ in range(12)])
    assert response.json()["created"] == 12
    env = {"DIVERSION_JWT_SECRET": JWT_SECRET, "DIVERSION_DATA_DIR": str(tmp_path),
           "DIVERSION_INTAKE_HTTP_PORT": str(intake.settings.service.http_port),
           "DIVERSION_CASEWORK_HTTP_PORT": str(casework.settings.service.http_port)}
    runner = CliRunner()

    as_json = runner.invoke(reports, ["screening", "--agency", agency, "--format", "json"], env=env)
    assert as_json.exit_code == 0, as_json.output
    rows = {r["program"]: r for r in json.loads(as_json.stdout)}
    api = intake.get("/v1/reports/screening", token=make_token(agency, ("auditor",))).json()
    expected = {c["program"]: c for c in api["cells"] if c["dimension"] == "all"}
    assert {p: (r["referred"], r["screened_eligible"]) for p, r in rows.items()} == {
        p: (c["referred"], c["screened_eligible"]) for p, c in expected.items()}
    assert rows["young-adult"]["referred"] == 12

    equity = runner.invoke(reports, ["equity", "--agency", agency, "--format", "csv"], env=env)
    assert equity.exit_code == 0, equity.output
    parsed = list(csv.DictReader(io.StringIO(equity.stdout)))
    assert {r["dimension"] for r in parsed} == {"race", "ethnicity", "sex", "age_band"}

    table = runner.invoke(reports, ["caseload", "--agency", agency], env=env)
    assert table.exit_code == 0, table.output
    outcomes = runner.invoke(reports, ["outcomes", "--agency", agency, "--format", "json"], env=env)
    assert outcomes.exit_code == 0 and json.loads(outcomes.stdout) == []
    screening_table = runner.invoke(reports, ["screening", "--agency", agency], env=env)
    assert "young-adult" in screening_table.stdout and "12" in screening_table.stdout

    audit = intake.get("/v1/audit", token=make_token(agency, ("auditor",)),
                       params={"action": "report.screening.read"}).json()["items"]
    assert len([a for a in audit if a["actor"].startswith("cli:")]) == 3  # screening (json, table) and equity


def test_reports_say_what_is_missing(tmp_path):
    runner = CliRunner()
    no_secret = runner.invoke(reports, ["caseload", "--agency", "stl-cao"], env={"DIVERSION_DATA_DIR": str(tmp_path),
                                                                                 "DIVERSION_JWT_SECRET": ""})
    assert no_secret.exit_code == 1 and "no suite secret" in no_secret.output
    assert not (tmp_path / "jwt-secret").exists()  # nothing was created behind the user's back
    down = runner.invoke(reports, ["caseload", "--agency", "stl-cao", "--url", f"http://127.0.0.1:{free_port()}"],
                         env={"DIVERSION_JWT_SECRET": JWT_SECRET})
    assert down.exit_code == 1 and "not reachable" in down.output
    assert runner.invoke(reports, ["everything", "--agency", "x"]).exit_code == 2
