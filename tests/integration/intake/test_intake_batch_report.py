"""Bulk submission (re-runs create nothing twice), the equity report, and what the logs never contain."""

from __future__ import annotations

import csv
import io
import logging

import pytest
from intake_api_support import charge, decide, install_pack, referral_body

from tests.conftest import make_token


@pytest.fixture
def api(start_service, agency):
    api = start_service("intake")
    install_pack(api, agency)
    return api


def test_batch_gives_per_item_results_and_a_rerun_creates_nothing_twice(api, agency):
    token = make_token(agency, ("screener",))
    good = referral_body(case_number="2611-CR10001")
    with_external = {**referral_body(case_number="2611-CR10002"), "external_id": "REJIS-1"}
    bad = referral_body(case_number="2611-CR10003")
    bad["charges"][0]["offense_class"] = "felony_z"
    items = [good, with_external, bad, dict(good)]

    first = api.post("/v1/referrals:batch", token=token, json=items)
    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["created"], body["existing"], body["invalid"]) == (2, 1, 1)
    results = body["results"]
    assert [r["index"] for r in results] == [0, 1, 2, 3]
    assert [r["status"] for r in results] == ["created", "created", "invalid", "existing"]
    assert results[3]["id"] == results[0]["id"]
    assert results[2]["id"] is None
    assert [e["field"] for e in results[2]["errors"]] == ["charges.0.offense_class"]

    again = api.post("/v1/referrals:batch", token=token, json=items[:2]).json()
    assert [r["status"] for r in again["results"]] == ["existing", "existing"]
    assert [r["id"] for r in again["results"]] == [results[0]["id"], results[1]["id"]]
    listed = api.get("/v1/referrals", token=token).json()["items"]
    assert len(listed) == 2
    stored = api.get(f"/v1/referrals/{results[1]['id']}", token=token).json()
    assert stored["external_id"] == "REJIS-1"
    assert stored["screening"]["recommendation"] == "eligible"


def test_batch_over_the_limit_is_refused_whole(api, agency):
    response = api.post("/v1/referrals:batch", token=make_token(agency, ("screener",)),
                        json=[referral_body() for _ in range(501)])
    assert response.status_code == 422
    assert api.get("/v1/referrals", token=make_token(agency, ("screener",))).json()["items"] == []


def test_equity_report_counts_rates_and_suppresses_small_cells(api, agency):
    young = [referral_body(race="Black") for _ in range(20)]
    older = [referral_body(race="White", dob="1970-01-01") for _ in range(12)]
    few = [referral_body(race="Asian", dob="1970-01-01") for _ in range(3)]
    response = api.post("/v1/referrals:batch", token=make_token(agency, ("screener",)), json=young + older + few)
    assert response.json()["created"] == 35
    ids = [r["id"] for r in response.json()["results"]]
    for referral_id in ids[:10]:
        assert decide(api, agency, referral_id, {"action": "accept", "program": "young-adult"}).status_code == 200

    assert api.get("/v1/reports/screening", token=make_token(agency, ("screener",))).status_code == 403
    report = api.get("/v1/reports/screening", token=make_token(agency, ("auditor",)))
    assert report.status_code == 200, report.text
    body = report.json()
    assert body["referrals"] == 35
    cells = {(c["program"], c["dimension"], c["group"]): c for c in body["cells"]}
    everyone = cells[("young-adult", "all", "all")]
    assert (everyone["referred"], everyone["screened_eligible"], everyone["accepted"]) == (35, 20, 10)
    assert everyone["accepted_rate"] == round(10 / 35, 4)
    black = cells[("young-adult", "race", "Black")]
    # Black's 20 eligible and 10 accepted are the totals' whole: shown, they would say the 3 Asian referrals
    # had none, so they are hidden as complements (the referred count stays).
    assert (black["referred"], black["screened_eligible"], black["accepted"], black["suppressed"]) == (
        20, None, None, True)
    asian = cells[("young-adult", "race", "Asian")]
    assert asian["referred"] is None and asian["suppressed"] is True
    # Complementary suppression: 35 - 20 - 12 would give the 3 Asian referrals away, so White goes too.
    white = cells[("young-adult", "race", "White")]
    assert white["referred"] is None and white["suppressed"] is True
    assert cells[("young-adult", "age_band", "18-25")]["referred"] == 20
    # Nobody was accepted into limited-history: a total of 0 would tell the 3 Asian referrals' figure (0) too.
    limited = cells[("limited-history", "all", "all")]
    assert limited["referred"] == 35 and limited["accepted"] is None

    as_csv = api.get("/v1/reports/screening", token=make_token(agency, ("supervisor",)),
                     params={"format": "csv", "from": "2020-01-01"})
    assert as_csv.status_code == 200
    assert as_csv.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    row = next(r for r in rows if (r["program"], r["dimension"], r["group"]) == ("young-adult", "race", "Asian"))
    assert row["referred"] == "" and row["suppressed"] == "true"
    empty = api.get("/v1/reports/screening", token=make_token(agency, ("auditor",)),
                    params={"from": "2001-01-01", "to": "2001-12-31"}).json()
    assert empty["referrals"] == 0 and empty["cells"] == []
    assert api.get("/v1/reports/screening", token=make_token(agency, ("auditor",)),
                   params={"from": "2021-01-01", "to": "2020-01-01"}).status_code == 422


def test_logs_never_contain_the_defendants_name_birth_date_or_charge(api, agency, caplog):
    caplog.set_level(logging.DEBUG)
    body = referral_body(first_name="Zebulonia", last_name="Quillfeather", dob="1987-11-23",
                         charges=[charge("570.223", description="Identity theft of Zebulonia")],
                         phone="(314) 555-8642", email="zq@example.org")
    created = api.post("/v1/referrals", token=make_token(agency, ("screener",)), json=body)
    assert created.status_code == 201
    referral_id = created.json()["id"]
    api.get(f"/v1/referrals/{referral_id}", token=make_token(agency, ("supervisor",)))
    api.get("/v1/referrals", token=make_token(agency, ("supervisor",)))
    assert decide(api, agency, referral_id, {"action": "accept", "program": "first-diversion"}).status_code == 200
    bad = {**body, "charges": [{**body["charges"][0], "offense_date": "1900-01-01"}]}
    assert api.post("/v1/referrals", token=make_token(agency, ("screener",)), json=bad).status_code == 422

    assert caplog.records, "the request produced no log records at all: the capture is not working"
    logged = "\n".join(
        f"{r.getMessage()} {r.args!r} {getattr(r, '__dict__', {})!r}" for r in caplog.records
    )
    for secret in ("Zebulonia", "Quillfeather", "1987-11-23", "Identity theft", "555-8642", "zq@example.org"):
        assert secret not in logged, f"{secret!r} appeared in a log record"
