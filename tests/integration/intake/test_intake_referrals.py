"""Referral intake as an agency system and the Diversion Unit's staff see it: submit, screen, read, list."""

from __future__ import annotations

import datetime as dt

import pytest
from intake_api_support import charge, install_pack, referral_body, submit
from sqlalchemy import create_engine, text

from tests.conftest import make_token


@pytest.fixture
def api(start_service, agency):
    api = start_service("intake")
    install_pack(api, agency)
    return api


def audit_actions(api, agency, referral_id):
    engine = create_engine(api.settings.database_url)
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT action FROM audit_event WHERE agency_id = :a AND resource_id = :r ORDER BY id"),
            {"a": agency, "r": referral_id},
        ).scalars().all()
    engine.dispose()
    return rows


def test_submitted_referral_is_screened_against_every_program_with_reasons(api, agency):
    created = submit(api, agency)
    assert created["status"] == "screened"
    screening = created["screening"]
    assert screening["ruleset_version"] == "2026.1"
    assert screening["ruleset_hash"].startswith("sha256:")
    assert screening["recommendation"] == "eligible"
    programs = {p["program"]: p for p in screening["programs"]}
    assert set(programs) == {"young-adult", "limited-history", "aged-history", "first-diversion", "second-chance"}
    young = programs["young-adult"]
    assert young["status"] == "eligible"
    assert [c["criterion"] for c in young["criteria"]] == ["felony_charge", "non_violent", "age_range"]
    assert young["criteria"][2]["reason"] == "22 on the offense date (18-25)"
    assert programs["second-chance"]["status"] == "needs_review"

    again = api.get(f"/v1/referrals/{created['id']}", token=make_token(agency, ("auditor",)))
    assert again.status_code == 200
    assert again.json()["screening"] == screening
    assert again.json()["defendant"]["last_name"] == "Brooks"
    assert again.json()["charges"][0]["statute"] == "570.030"
    assert again.headers["ETag"] == f'"{created["id"]}.1"'
    assert audit_actions(api, agency, created["id"]) == ["referral.created", "referral.read"]


def test_referral_with_violent_charge_is_ineligible_for_every_program(api, agency):
    created = submit(api, agency, referral_body(charges=[charge("569.020", "felony_b", description="Robbery")]))
    assert created["screening"]["recommendation"] == "ineligible"
    for program in created["screening"]["programs"]:
        non_violent = next(c for c in program["criteria"] if c["criterion"] == "non_violent")
        assert non_violent["status"] == "not_met"
        assert "violent charge: 569.020 Robbery" in non_violent["reason"]


def test_misdemeanor_only_referral_is_valid_and_ineligible_because_no_felony_charge(api, agency):
    created = submit(api, agency, referral_body(charges=[charge(offense_class="misdemeanor_a")]))
    assert created["screening"]["recommendation"] == "ineligible"
    for program in created["screening"]["programs"]:
        assert program["status"] == "ineligible"
        assert program["criteria"][0] == {**program["criteria"][0], "criterion": "felony_charge",
                                          "status": "not_met", "reason": "no felony charge"}


def test_recent_conviction_names_the_day_the_person_becomes_eligible(api, agency):
    created = submit(api, agency, referral_body(
        convictions=[{"date": "2023-06-01", "offense_class": "felony_d", "violent": False}]))
    aged = next(p for p in created["screening"]["programs"] if p["program"] == "aged-history")
    assert aged["status"] == "ineligible"
    assert aged["eligible_on"] == "2028-06-02"


def _future(days: int = 30) -> str:
    return (dt.date.today() + dt.timedelta(days=days)).isoformat()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda b: b["defendant"].update(date_of_birth=_future()), "defendant.date_of_birth"),
        (lambda b: b["charges"][0].update(offense_date="1999-01-01"), "charges.0.offense_date"),
        (lambda b: b["charges"][0].update(offense_class="felony_z"), "charges.0.offense_class"),
        (lambda b: b.update(charges=[]), "charges"),
        (lambda b: b["defendant"].update(first_name="  "), "defendant.first_name"),
        (lambda b: b["defendant"].update(last_name=""), "defendant.last_name"),
        (lambda b: b.update(source="neighbour"), "source"),
    ],
    ids=["dob-in-future", "offense-before-birth", "unknown-offense-class", "no-charges", "blank-first-name",
         "empty-last-name", "unknown-source"],
)
def test_bad_referral_is_422_problem_naming_the_field(api, agency, change, field):
    body = referral_body()
    change(body)
    response = api.post("/v1/referrals", token=make_token(agency, ("screener",)), json=body)
    assert response.status_code == 422, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    assert field in [e["field"] for e in response.json()["errors"]]


def test_agency_without_a_ruleset_cannot_submit_referrals(start_service, agency):
    api = start_service("intake")
    response = api.post("/v1/referrals", token=make_token(agency, ("screener",)), json=referral_body())
    assert response.status_code == 409
    assert response.json()["type"].endswith("/no-ruleset-configured")
    assert response.json()["title"] == "No ruleset configured"


def test_same_idempotency_key_returns_the_first_referral_and_another_body_is_refused(api, agency):
    body = referral_body()
    token = make_token(agency, ("screener",), sub="screener-1")  # a replay goes only to the same caller
    first = api.post("/v1/referrals", token=token, json=body, headers={"Idempotency-Key": "abc-1"}).json()
    again = api.post("/v1/referrals", token=token, json=body, headers={"Idempotency-Key": "abc-1"})
    assert again.status_code == 201
    assert again.json()["id"] == first["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    other = api.post("/v1/referrals", token=token, json=referral_body(), headers={"Idempotency-Key": "abc-1"})
    assert other.status_code == 422
    listed = api.get("/v1/referrals", token=make_token(agency, ("screener",))).json()["items"]
    assert [r["id"] for r in listed] == [first["id"]]


def test_external_id_is_refused_a_second_time(api, agency):
    body = {**referral_body(), "external_id": "REJIS-77"}
    first = submit(api, agency, body)
    again = api.post("/v1/referrals", token=make_token(agency, ("screener",)), json=body)
    assert again.status_code == 409
    assert again.json()["existing_id"] == first["id"]


def test_only_screeners_submit_and_partners_cannot_read(api, agency):
    created = submit(api, agency)
    assert api.post("/v1/referrals", token=make_token(agency, ("supervisor",)),
                    json=referral_body()).status_code == 403
    assert api.get(f"/v1/referrals/{created['id']}",
                   token=make_token(agency, ("partner",), org="org-1")).status_code == 403


def test_another_agencys_referral_answers_404_like_a_missing_one(api, agency):
    created = submit(api, agency)
    other = make_token("t-someone-else", ("supervisor",))
    foreign = api.get(f"/v1/referrals/{created['id']}", token=other)
    missing = api.get("/v1/referrals/00000000-0000-0000-0000-000000000000", token=other)
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json()["detail"] == missing.json()["detail"]


def test_list_filters_by_status_and_program_and_pages_with_a_cursor(api, agency):
    young = [submit(api, agency)["id"] for _ in range(3)]
    older = submit(api, agency, referral_body(dob="1980-02-02"))["id"]
    violent = submit(api, agency, referral_body(charges=[charge("569.020", "felony_b")]))["id"]
    token = make_token(agency, ("screener",))

    seen, cursor = [], None
    while True:
        page = api.get("/v1/referrals", token=token, params={"limit": 2, **({"cursor": cursor} if cursor else {})})
        assert page.status_code == 200, page.text
        seen += [r["id"] for r in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(young + [older, violent]))  # newest first, each once

    eligible_young = api.get("/v1/referrals", token=token, params={"program": "young-adult"}).json()["items"]
    assert {r["id"] for r in eligible_young} == set(young)
    screened = api.get("/v1/referrals", token=token, params={"status": "screened"}).json()["items"]
    assert len(screened) == 5
    today = dt.date.today()
    window = api.get("/v1/referrals", token=token, params={
        "received_from": (today - dt.timedelta(days=1)).isoformat(), "received_to": today.isoformat()}).json()
    assert len(window["items"]) == 5
    before = api.get("/v1/referrals", token=token, params={"received_to": (today - dt.timedelta(days=2)).isoformat()})
    assert before.json()["items"] == []
    assert api.get("/v1/referrals", token=token, params={"status": "lost"}).status_code == 422
