"""The screening desk against PostgreSQL and the broker: the review queue, judgements, deferrals and
eligibility dates that come back (once, with two intake instances), and casework's case events."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from intake_api_support import (
    decide,
    demo_pack,
    event_tap,
    install_pack,
    publish_as_casework,
    referral_body,
    submit,
    wait_for,
)
from sqlalchemy import create_engine, select

from services.intake.extensions import Clock
from services.intake.models import AuditEvent, RulesetRow
from services.intake.usecases import rulesets
from shared.messaging.catalog import CaseOpened, CaseWithdrawn
from shared.messaging.tables import TABLES
from tests.conftest import make_token

REVIEW_DUE = "org.diversion.intake.referral.review_due"
DISPOSED = "org.diversion.intake.referral.disposed"


@pytest.fixture
def api(start_service, agency):
    api = start_service("intake")
    install_pack(api, agency)
    return api


def read(api: Any, agency: str, referral_id: str) -> dict[str, Any]:
    response = api.get(f"/v1/referrals/{referral_id}", token=make_token(agency, ("supervisor",)))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def queue(api: Any, agency: str, **params: Any) -> list[dict[str, Any]]:
    response = api.get("/v1/referrals", token=make_token(agency, ("screener",)), params={"needs": "review", **params})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def judge(api: Any, agency: str, referral_id: str, body: dict[str, Any], role: str = "screener") -> Any:
    return api.post(f"/v1/referrals/{referral_id}/judgements", token=make_token(agency, (role,), sub=f"{role}-1"),
                    json=body)


def test_a_referral_awaiting_a_judgement_is_queued_shows_the_program_and_leaves_after_the_judgement(api, agency):
    older = submit(api, agency)
    newer = submit(api, agency, referral_body(first_name="Ana", last_name="Diaz", dob="2002-02-02"))
    # Eligible for young-adult, but second-chance waits on a screener: never hidden behind "eligible".
    assert older["screening"]["recommendation"] == "eligible"
    assert older["pending_review"] == ["second-chance"] and older["review_reasons"] == ["needs_judgement"]
    listed = api.get("/v1/referrals", token=make_token(agency, ("screener",))).json()["items"]
    assert {i["id"]: i["pending_review"] for i in listed} == {older["id"]: ["second-chance"],
                                                              newer["id"]: ["second-chance"]}
    assert [i["id"] for i in queue(api, agency)] == [older["id"], newer["id"]]  # oldest first

    assert judge(api, agency, older["id"], {"kind": "program", "program": "second-chance", "outcome": "eligible",
                                            "reason": "x"}, role="case_manager").status_code == 403
    response = judge(api, agency, older["id"], {"kind": "program", "program": "second-chance",
                                                "outcome": "eligible", "reason": "steady job, family support"})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["pending_review"] == [] and body["review_reasons"] == [] and body["review_since"] is None
    # Updated, not overwritten: both screenings are kept, the judgement points at the new one.
    assert [s["trigger"] for s in body["screenings"]] == ["submitted", "judgement"]
    first, second = (next(p for p in s["programs"] if p["program"] == "second-chance") for s in body["screenings"])
    assert (first["status"], second["status"]) == ("needs_review", "eligible")
    [judgement] = body["judgements"]
    assert (judgement["program"], judgement["outcome"], judgement["judged_by"]) == (
        "second-chance", "eligible", "screener-1")
    assert judgement["screening_id"] == body["screenings"][1]["id"]
    assert [i["id"] for i in queue(api, agency)] == [newer["id"]]

    again = judge(api, agency, older["id"], {"kind": "program", "program": "second-chance", "outcome": "ineligible",
                                             "reason": "second thoughts"})
    assert again.status_code == 409 and again.json()["type"].endswith("/nothing-to-judge")
    audit = api.get("/v1/audit", token=make_token(agency, ("auditor",)),
                    params={"action": "referral.judged.program"}).json()["items"]
    assert [(a["resource_id"], a["actor"]) for a in audit] == [(older["id"], "screener-1")]


def test_a_possible_duplicate_waits_in_the_queue_until_a_screener_reviews_it(api, agency):
    first = submit(api, agency, referral_body(first_name="José", last_name="O'Neil"))
    assert "possible_duplicate" not in first["review_reasons"]
    same = submit(api, agency, referral_body(first_name="jose", last_name="ONEIL"))
    assert same["review_reasons"] == ["needs_judgement", "possible_duplicate"]
    assert judge(api, agency, same["id"], {"kind": "program", "program": "second-chance", "outcome": "ineligible",
                                           "reason": "no"}).status_code == 201
    assert same["id"] in [i["id"] for i in queue(api, agency)]  # still: the duplicate is not reviewed
    reviewed = judge(api, agency, same["id"], {"kind": "duplicate", "outcome": "not_duplicate",
                                               "reason": "another person of the same name, other address"})
    assert reviewed.status_code == 201, reviewed.text
    assert reviewed.json()["review_reasons"] == []
    assert same["id"] not in [i["id"] for i in queue(api, agency)]
    # A decision also takes a referral out of the queue.
    assert decide(api, agency, first["id"], {"action": "accept", "program": "young-adult"}).status_code == 200
    assert queue(api, agency) == []


def test_needs_review_refuses_filters_it_would_ignore(api, agency):
    response = api.get("/v1/referrals", token=make_token(agency, ("screener",)),
                       params={"needs": "review", "status": "accepted"})
    assert response.status_code == 422
    assert api.get("/v1/referrals", token=make_token(agency, ("screener",)),
                   params={"needs": "everything"}).status_code == 422


def _clock(api: Any) -> Clock:
    return next(d for d in api.container.dependencies if isinstance(d, Clock))


def _review_events(database_url: str, referral_id: str) -> list[dict[str, Any]]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            bodies = connection.execute(select(TABLES.outbox.c.body).where(
                TABLES.outbox.c.event_type == REVIEW_DUE, TABLES.outbox.c.subject == referral_id)).scalars().all()
            audits = connection.execute(select(AuditEvent.c.id).where(
                AuditEvent.c.action == "referral.returned_for_review",
                AuditEvent.c.resource_id == referral_id)).scalars().all()
    finally:
        engine.dispose()
    return [json.loads(b) for b in bodies] + [{"audit": a} for a in audits]


def test_a_deferral_comes_back_on_its_date_once_with_two_intake_instances(start_service, agency, pg_databases):
    settings = {"DIVERSION_INTAKE_REVIEW_INTERVAL_SECONDS": "0.2"}
    one = start_service("intake", **settings)
    two = start_service("intake", **settings)
    install_pack(one, agency)
    soon, later = submit(one, agency), submit(one, agency, referral_body(first_name="Ana", dob="2002-02-02"))
    today = dt.date.today()
    for referral, days in ((soon, 10), (later, 20)):
        response = decide(one, agency, referral["id"], {
            "action": "defer", "until": (today + dt.timedelta(days=days)).isoformat(),
            "reason_code": "awaiting_information", "note": "lab report"})
        assert response.status_code == 200, response.text
        assert response.json()["review_reasons"] == []  # decided: out of the queue while deferred
    assert queue(one, agency) == []

    with event_tap("intake", REVIEW_DUE) as next_for:
        day = dt.datetime.combine(today + dt.timedelta(days=10), dt.time(8), tzinfo=dt.UTC)
        for api in (one, two):
            _clock(api).fixed = day
        event = next_for(soon["id"], 30)
    assert event["data"]["reasons"] == ["deferral_ended"]
    assert event["data"]["due_on"] == (today + dt.timedelta(days=10)).isoformat()
    back = wait_for(lambda: (b := read(one, agency, soon["id"]))["status"] == "screened" and b, 15, "the return")
    assert back["review_reasons"] == ["needs_judgement", "deferral_ended"] and back["deferred_until"] is None
    assert [i["id"] for i in queue(one, agency)] == [soon["id"]]
    # Both instances ran their timer over the same rows: the return happened once, and the later one waits.
    wait_for(lambda: len(_review_events(pg_databases["intake"], soon["id"])) == 2, 10, "event and audit row")
    # More passes of both timers over the same day find nothing more to return.
    seen = {id(api): _clock(api).passes for api in (one, two)}
    wait_for(lambda: all(_clock(api).passes >= seen[id(api)] + 2 for api in (one, two)), 15, "two more passes each")
    assert len(_review_events(pg_databases["intake"], soon["id"])) == 2
    assert read(one, agency, later["id"])["status"] == "deferred"


def test_an_eligibility_date_brings_the_referral_back_screened_again(start_service, agency):
    api = start_service("intake", DIVERSION_INTAKE_REVIEW_INTERVAL_SECONDS="0.2")
    pack = demo_pack(agency)
    aged = next(p for p in pack["programs"] if p["id"] == "aged-history")
    aged["requires"][0]["params"]["measured_from"] = "screening_date"
    install_pack(api, agency, pack)
    today = dt.date.today()
    conviction = dt.date(today.year - 4, today.month, 1)  # five years are up about a year from now, whatever today is
    created = submit(api, agency, referral_body(dob="1980-01-01", convictions=[
        {"date": conviction.isoformat(), "offense_class": "felony_c"}]))
    aged_result = next(p for p in created["screening"]["programs"] if p["program"] == "aged-history")
    assert aged_result["status"] == "ineligible" and aged_result["eligible_on"]
    assert created["eligible_on"] == aged_result["eligible_on"]
    until = (dt.date.fromisoformat(aged_result["eligible_on"]) + dt.timedelta(days=90)).isoformat()
    assert decide(api, agency, created["id"], {"action": "defer", "until": until,
                                               "reason_code": "eligibility_date"}).status_code == 200
    _clock(api).fixed = dt.datetime.combine(dt.date.fromisoformat(aged_result["eligible_on"]), dt.time(9),
                                            tzinfo=dt.UTC)
    body = wait_for(lambda: (b := read(api, agency, created["id"]))["status"] == "screened" and b, 15, "the return")
    assert "eligible_on_reached" in body["review_reasons"]
    assert body["screenings"][-1]["trigger"] == "eligible_on"
    now_aged = next(p for p in body["screening"]["programs"] if p["program"] == "aged-history")
    assert now_aged["status"] == "eligible"
    assert body["eligible_on"] is None


def test_casework_case_events_give_the_referral_its_case_and_a_withdrawal(api, agency):
    created = submit(api, agency)
    assert decide(api, agency, created["id"], {"action": "accept", "program": "young-adult"}).status_code == 200
    now = dt.datetime.now(dt.UTC)
    publish_as_casework(CaseOpened(case_id="case-77", referral_id=created["id"], program="young-adult",
                                   opened_at=now), subject="case-77", agency=agency)
    wait_for(lambda: read(api, agency, created["id"])["case_id"] == "case-77", 15, "the case id")
    assert read(api, agency, created["id"])["status"] == "accepted"
    with event_tap("intake", DISPOSED) as next_for:
        publish_as_casework(CaseWithdrawn(case_id="case-77", referral_id=created["id"], withdrawn_at=now,
                                          reason="participant moved away"), subject="case-77", agency=agency)
        event = next_for(created["id"], 15)
    body = read(api, agency, created["id"])
    assert body["status"] == "withdrawn"
    data = event["data"]
    assert (data["disposition"], data["case_number"], data["case_id"]) == (
        "withdrawn", created["case_number"], "case-77")
    assert data["charges"][0]["statute"] == "570.030"


def test_a_screening_whose_pack_is_gone_cannot_be_decided_under_another(api, agency, pg_databases):
    created = submit(api, agency)
    engine = create_engine(pg_databases["intake"])
    with engine.begin() as connection:  # a database restored without the pack the screening used
        connection.execute(RulesetRow.__table__.delete().where(RulesetRow.agency_id == agency))
    engine.dispose()
    rulesets._PARSED.clear()
    install_pack(api, agency, demo_pack(agency, "2026.9") | {"name": "Another pack"})
    response = decide(api, agency, created["id"], {"action": "accept", "program": "young-adult"})
    assert response.status_code == 409, response.text
    assert response.json()["type"].endswith("/ruleset-version-missing")
    assert read(api, agency, created["id"])["status"] == "screened"
