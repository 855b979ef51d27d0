"""A submission's and a decision's answer is the referral exactly as GET reads it back (body and ETag): the
answers are built from what the request already has, not read again, and must not drift from the read."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from intake_api_support import decide, install_pack, publish_as_casework, referral_body, submit, wait_for
from sqlalchemy import create_engine, select

from services.intake.models import AuditEvent
from shared.messaging.catalog import CaseOpened
from tests.conftest import make_token


@pytest.fixture
def api(start_service, agency):
    api = start_service("intake")
    install_pack(api, agency)
    return api


def read(api: Any, agency: str, referral_id: str) -> Any:
    response = api.get(f"/v1/referrals/{referral_id}", token=make_token(agency, ("supervisor",)))
    assert response.status_code == 200, response.text
    return response


def submitted(api: Any, agency: str, body: dict[str, Any]) -> Any:
    response = api.post("/v1/referrals", token=make_token(agency, ("screener",)), json=body)
    assert response.status_code == 201, response.text
    return response


def assert_as_read(api: Any, agency: str, answer: Any) -> None:
    again = read(api, agency, answer.json()["id"])
    assert answer.json() == again.json()
    assert answer.headers["ETag"] == again.headers["ETag"]


def test_a_submission_answers_the_referral_as_it_reads_back(api, agency):
    first = submitted(api, agency, {**referral_body(), "external_id": "sys-1"})
    assert_as_read(api, agency, first)
    # The same person and case number again: possible duplicates, a review reason, a history, no email/address.
    body = referral_body(case_number=first.json()["case_number"], email=None, address=None,
                         convictions=[{"offense_class": "misdemeanor_a", "date": "2015-02-01",
                                       "statute": "570.030"}],
                         diversions=[{"date": "2016-01-01"}])
    body["charges"].append({"statute": "569.170", "description": "Burglary", "offense_class": "felony_c",
                            "offense_date": "2026-02-01", "violent": False})
    second = submitted(api, agency, body)
    assert second.json()["possible_duplicates"]
    assert_as_read(api, agency, second)


def test_a_decision_answers_the_referral_as_it_reads_back(api, agency):
    first = submitted(api, agency, referral_body()).json()
    same = submitted(api, agency, referral_body()).json()  # the same person: judged, then deferred, accepted
    judged = api.post(f"/v1/referrals/{same['id']}/judgements", token=make_token(agency, ("screener",)),
                      json={"kind": "duplicate", "outcome": "duplicate", "reason": "same address and phone"})
    assert judged.status_code == 201, judged.text
    until = (dt.date.today() + dt.timedelta(days=60)).isoformat()
    deferred = decide(api, agency, same["id"], {"action": "defer", "until": until, "note": "lab",
                                                "reason_code": "awaiting_information"})
    assert deferred.status_code == 200, deferred.text
    assert_as_read(api, agency, deferred)
    accepted = decide(api, agency, same["id"], {"action": "accept", "program": "young-adult"})
    assert accepted.status_code == 200, accepted.text
    assert_as_read(api, agency, accepted)
    declined = decide(api, agency, first["id"], {"action": "decline", "reason_code": "victim_objection"})
    assert declined.status_code == 200, declined.text
    assert_as_read(api, agency, declined)


def test_case_opened_events_handled_in_one_batch_keep_their_audit_rows(api, agency, pg_databases):
    """The event audit rows go in the handler's transaction (a batch's session), not a session that is closed
    without a commit."""
    made = [submit(api, agency, referral_body()) for _ in range(6)]
    for referral in made:
        assert decide(api, agency, referral["id"], {"action": "accept", "program": "young-adult"}).status_code == 200
    now = dt.datetime.now(dt.UTC)
    for n, referral in enumerate(made):  # published back to back: the consumer takes several in one batch
        publish_as_casework(CaseOpened(case_id=f"case-{n}", referral_id=referral["id"], program="young-adult",
                                       opened_at=now), subject=f"case-{n}", agency=agency)
    for n, referral in enumerate(made):
        wait_for(lambda r=referral, n=n: read(api, agency, r["id"]).json()["case_id"] == f"case-{n}", 15, "case id")
    engine = create_engine(pg_databases["intake"])
    try:
        def audited() -> set[str]:
            with engine.connect() as connection:
                return set(connection.execute(select(AuditEvent.c.resource_id).where(
                    AuditEvent.c.action == "referral.case_opened",
                    AuditEvent.c.agency_id == agency)).scalars())
        wait_for(lambda: audited() == {r["id"] for r in made}, 10, "an audit row per case.opened")
    finally:
        engine.dispose()
