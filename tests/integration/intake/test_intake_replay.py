"""What-if replay against PostgreSQL: a changed pack over a fixture whose changes were worked out by hand, and
nothing in the database changes. Also the CLI (`diversion rulesets replay`)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from click.testing import CliRunner
from intake_api_support import demo_pack, install_pack, referral_body
from sqlalchemy import create_engine, func, select

from services.intake.cli import rulesets
from services.intake.models import ReferralRow, ScreeningRow
from tests.conftest import JWT_SECRET, make_token

# Offense date 2026-03-01 (the default charge): ages on that day.
YOUNG, TWENTY_THREE, FORTY = "2005-06-01", "2002-06-01", "1985-06-01"


@pytest.fixture
def fixture_referrals(start_service, agency):
    """12 Black 20-year-olds, 10 White 23-year-olds and 3 Asian 40-year-olds, screened under 2026.1; and 2026.2,
    whose young-adult program ends at 21 instead of 25, installed after them."""
    api = start_service("intake")
    install_pack(api, agency)
    bodies = ([referral_body(dob=YOUNG, race="Black") for _ in range(12)]
              + [referral_body(dob=TWENTY_THREE, race="White") for _ in range(10)]
              + [referral_body(dob=FORTY, race="Asian") for _ in range(3)])
    response = api.post("/v1/referrals:batch", token=make_token(agency, ("screener",)), json=bodies)
    assert response.json()["created"] == 25, response.text
    pack = demo_pack(agency, "2026.2")
    young = next(p for p in pack["programs"] if p["id"] == "young-adult")
    young["requires"][0]["params"]["max_age"] = 21
    install_pack(api, agency, pack)
    return api


def _state(url: str) -> tuple[int, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return (connection.execute(select(func.count()).select_from(ScreeningRow)).scalar_one(),
                    connection.execute(select(func.sum(ReferralRow.version))).scalar_one())
    finally:
        engine.dispose()


def test_replay_of_a_changed_pack_reports_the_hand_counted_changes_and_changes_nothing(
    fixture_referrals, agency, pg_databases
):
    api = fixture_referrals
    today = dt.date.today()
    before = _state(pg_databases["intake"])
    body = {"from": (today - dt.timedelta(days=1)).isoformat(), "to": today.isoformat()}
    response = api.post("/v1/rulesets/2026.2/replay", token=make_token(agency, ("supervisor",)), json=body)
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["version"], report["referrals"], report["changed_referrals"]) == ("2026.2", 25, 10)
    programs = {p["program"]: p for p in report["programs"]}
    assert programs["young-adult"]["changed"] == 10
    assert programs["young-adult"]["directions"] == {"eligible->ineligible": 10}
    assert all(p["changed"] == 0 and p["directions"] == {} for name, p in programs.items() if name != "young-adult")
    cells = {(c["program"], c["dimension"], c["group"]): c for c in report["breakdown"]}
    everyone = cells[("young-adult", "all", "all")]
    assert (everyone["referrals"], everyone["changed"], everyone["eligible_after"]) == (25, 10, 12)
    black = cells[("young-adult", "race", "Black")]
    # Black's 12 eligible-after are the total's 12: shown, they would say White and Asian have none left.
    assert (black["referrals"], black["changed"], black["eligible_after"], black["suppressed"]) == (12, 0, None, True)
    # 3 Asian referrals: suppressed; White (10) goes with them, or 25 - 12 - 10 would give them away.
    assert cells[("young-adult", "race", "Asian")]["referrals"] is None
    assert cells[("young-adult", "race", "White")]["referrals"] is None
    assert _state(pg_databases["intake"]) == before  # nothing screened, nothing stored

    audit = api.get("/v1/audit", token=make_token(agency, ("auditor",)), params={"action": "ruleset.replayed"})
    [entry] = audit.json()["items"]
    assert entry["resource_id"] == "2026.2" and entry["detail"]["changed_referrals"] == 10

    missing = api.post("/v1/rulesets/2099.9/replay", token=make_token(agency, ("supervisor",)), json=body)
    assert missing.status_code == 404 and missing.json()["type"].endswith("/ruleset-version-not-found")
    backwards = api.post("/v1/rulesets/2026.2/replay", token=make_token(agency, ("supervisor",)),
                         json={"from": body["to"], "to": body["from"]})
    assert backwards.status_code == 422
    assert api.post("/v1/rulesets/2026.2/replay", token=make_token(agency, ("screener",)),
                    json=body).status_code == 403


def test_the_replay_cli_shows_progress_and_the_same_report(fixture_referrals, agency, pg_databases, tmp_path):
    env = {"DIVERSION_INTAKE_DATABASE_URL": pg_databases["intake"], "DIVERSION_JWT_SECRET": JWT_SECRET,
           "DIVERSION_DATA_DIR": str(tmp_path)}
    today = dt.date.today().isoformat()
    yesterday = (dt.date.today() - dt.timedelta(days=1)).isoformat()  # the fixture may have run before midnight
    result = CliRunner().invoke(rulesets, ["replay", "2026.2", "--agency", agency, "--from", yesterday, "--to", today,
                                           "--format", "json"], env=env)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["changed_referrals"] == 10
    assert "replaying" in result.stderr  # the progress bar goes to stderr
    missing = CliRunner().invoke(rulesets, ["replay", "2099.9", "--agency", agency, "--from", today, "--to", today],
                                 env=env)
    assert missing.exit_code == 1 and "no ruleset pack version '2099.9'" in missing.output
