"""The prosecutor's decisions over HTTP, the events they publish (seen on the real broker), duplicates,
rescreens under a new pack version, and the disposition casework sends back."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from intake_api_support import (
    charge,
    decide,
    demo_pack,
    event_tap,
    install_pack,
    publish_as_casework,
    referral_body,
    submit,
    wait_for,
)

from shared.messaging.catalog import CaseCompleted, CaseTerminated
from tests.conftest import make_token

ACCEPTED = "org.diversion.intake.referral.accepted"
DECLINED = "org.diversion.intake.referral.declined"


@pytest.fixture
def api(start_service, agency):
    api = start_service("intake")
    install_pack(api, agency)
    return api


def read(api, agency, referral_id):
    response = api.get(f"/v1/referrals/{referral_id}", token=make_token(agency, ("supervisor",)))
    assert response.status_code == 200, response.text
    return response


def test_accepting_an_eligible_program_publishes_referral_accepted_with_the_participant(api, agency):
    created = submit(api, agency, referral_body(first_name="José", last_name="O'Neil"))
    with event_tap("intake", ACCEPTED) as next_for:
        response = decide(api, agency, created["id"], {"action": "accept", "program": "young-adult"})
        assert response.status_code == 200, response.text
        event = next_for(created["id"])
    assert response.json()["status"] == "accepted"
    assert response.json()["program"] == "young-adult"
    assert response.headers["ETag"] == f'"{created["id"]}.2"'
    assert event["type"] == ACCEPTED
    assert event["tenantid"] == agency
    assert event["dataclassification"] == "cjis"
    data = event["data"]
    assert data["referral_id"] == created["id"]
    assert data["case_number"] == created["case_number"]
    assert (data["program"], data["min_months"], data["max_months"]) == ("young-adult", 6, 18)
    assert data["decided_by"] == "screener-1"
    assert data["participant"]["first_name"] == "José"
    assert data["participant"]["date_of_birth"] == "2003-04-05"
    assert data["participant"]["demographics"]["sex"] == "female"
    assert data["participant"]["demographics"]["race"] == "Black"
    born = dt.date(2003, 4, 5)
    today = dt.date.today()
    assert data["participant"]["demographics"]["age_at_referral"] == (
        today.year - born.year - ((today.month, today.day) < (born.month, born.day)))
    assert "charges" not in data and "history" not in data
    assert event["_headers"]["nameko.sub"] == "screener-1"


def test_decision_needs_the_current_etag(api, agency):
    created = submit(api, agency)
    token = make_token(agency, ("screener",))
    path = f"/v1/referrals/{created['id']}/decision"
    missing = api.post(path, token=token, json={"action": "accept", "program": "young-adult"})
    assert missing.status_code == 428
    stale = api.post(path, token=token, json={"action": "accept", "program": "young-adult"},
                     headers={"If-Match": f'"{created["id"]}.0"'})
    assert stale.status_code == 412
    assert read(api, agency, created["id"]).json()["status"] == "screened"


def test_screener_cannot_accept_an_ineligible_program_without_a_supervisor_override(api, agency):
    created = submit(api, agency, referral_body(dob="1980-02-02"))
    young = next(p for p in created["screening"]["programs"] if p["program"] == "young-adult")
    assert young["status"] == "ineligible"
    refused = decide(api, agency, created["id"], {"action": "accept", "program": "young-adult"})
    assert refused.status_code == 409
    assert refused.json()["type"].endswith("/override-required")
    by_screener = decide(api, agency, created["id"], {
        "action": "accept", "program": "young-adult",
        "override": {"reason_code": "prosecutor_discretion", "note": "first offense in decades"}})
    assert by_screener.status_code == 403
    unknown_code = decide(api, agency, created["id"], {
        "action": "accept", "program": "young-adult", "override": {"reason_code": "because", "note": "x"}},
        role="supervisor")
    assert unknown_code.status_code == 422
    assert unknown_code.json()["type"].endswith("/unknown-reason-code")
    assert read(api, agency, created["id"]).json()["status"] == "screened"


def test_supervisor_override_accepts_with_reason_and_note_and_is_audited(api, agency):
    created = submit(api, agency, referral_body(dob="1980-02-02"))
    response = decide(api, agency, created["id"], {
        "action": "accept", "program": "young-adult",
        "override": {"reason_code": "mitigating_circumstances", "note": "caregiver for two children"}},
        role="supervisor")
    assert response.status_code == 200, response.text
    decision = response.json()["decisions"][-1]
    assert decision["override"] is True
    assert decision["reason_code"] == "mitigating_circumstances"
    assert decision["note"] == "caregiver for two children"
    assert decision["ruleset_version"] == "2026.1"
    audit = api.get("/v1/audit", token=make_token(agency, ("auditor",)),
                    params={"resource_id": created["id"]}).json()["items"]
    actions = [a["action"] for a in audit]
    assert "referral.override" in actions and "referral.accepted" in actions
    override = next(a for a in audit if a["action"] == "referral.override")
    assert override["actor"] == "supervisor-1"
    assert override["detail"] == {"program": "young-adult", "reason_code": "mitigating_circumstances"}


def test_declining_publishes_referral_declined_and_the_referral_is_final(api, agency):
    created = submit(api, agency)
    bad_code = decide(api, agency, created["id"], {"action": "decline", "reason_code": "dislike"})
    assert bad_code.status_code == 422
    with event_tap("intake", DECLINED) as next_for:
        response = decide(api, agency, created["id"], {"action": "decline", "reason_code": "victim_objection"})
        assert response.status_code == 200, response.text
        event = next_for(created["id"])
    assert response.json()["status"] == "declined"
    assert event["data"]["reason"] == "victim_objection"
    assert event["data"]["case_number"] == created["case_number"]
    again = decide(api, agency, created["id"], {"action": "accept", "program": "young-adult"})
    assert again.status_code == 409
    assert again.json()["type"].endswith("/invalid-transition")


def test_deferring_keeps_the_referral_open_until_a_date(api, agency):
    created = submit(api, agency)
    past = decide(api, agency, created["id"], {"action": "defer", "until": "2020-01-01",
                                               "reason_code": "awaiting_information"})
    assert past.status_code == 422
    until = (dt.date.today() + dt.timedelta(days=60)).isoformat()
    no_reason = decide(api, agency, created["id"], {"action": "defer", "until": until, "note": "awaiting lab"})
    assert no_reason.status_code == 422 and no_reason.json()["errors"][0]["field"] == "defer.reason_code"
    unknown = decide(api, agency, created["id"], {"action": "defer", "until": until, "reason_code": "because"})
    assert unknown.status_code == 422 and unknown.json()["type"].endswith("/unknown-reason-code")
    response = decide(api, agency, created["id"], {"action": "defer", "until": until, "note": "awaiting lab",
                                                   "reason_code": "awaiting_information"})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "deferred"
    assert response.json()["deferred_until"] == until
    assert response.json()["decisions"][-1]["reason_code"] == "awaiting_information"
    later = decide(api, agency, created["id"], {"action": "accept", "program": "first-diversion"})
    assert later.status_code == 200
    assert later.json()["status"] == "accepted"
    assert later.json()["deferred_until"] is None


def test_possible_duplicates_are_flagged_by_person_and_by_case_number(api, agency):
    first = submit(api, agency, referral_body(case_number="2611-CR00999", first_name="José", last_name="O'Neil"))
    same_person = submit(api, agency, referral_body(first_name="jose", last_name="ONEIL"))
    same_case = submit(api, agency, referral_body(case_number="2611 cr 00999", first_name="Ana", last_name="Diaz",
                                                  dob="1990-01-01"))
    unrelated = submit(api, agency, referral_body(first_name="Ana", last_name="Diaz", dob="1991-01-01"))
    other_agency = "t-" + uuid.uuid4().hex[:10]
    install_pack(api, other_agency)
    submit(api, other_agency, referral_body(first_name="José", last_name="O'Neil", case_number="2611-CR00999"))

    assert same_person["possible_duplicates"] == [
        {"referral_id": first["id"], "status": "screened", "reasons": ["same_person"]}]
    assert same_case["possible_duplicates"] == [
        {"referral_id": first["id"], "status": "screened", "reasons": ["same_case_number"]}]
    flagged = {d["referral_id"]: d["reasons"] for d in read(api, agency, first["id"]).json()["possible_duplicates"]}
    assert flagged == {same_person["id"]: ["same_person"], same_case["id"]: ["same_case_number"]}
    assert unrelated["possible_duplicates"] == []


def test_rescreen_uses_the_current_pack_and_keeps_the_original_screening(api, agency):
    created = submit(api, agency, referral_body(dob="1999-01-01"))  # 27 on the offense date
    young = next(p for p in created["screening"]["programs"] if p["program"] == "young-adult")
    assert young["status"] == "ineligible"
    pack = demo_pack(agency, version="2026.2")
    next(p for p in pack["programs"] if p["id"] == "young-adult")["requires"][0]["params"]["max_age"] = 29
    assert install_pack(api, agency, pack)["version"] == "2026.2"

    screener = api.post(f"/v1/referrals/{created['id']}/rescreen", token=make_token(agency, ("screener",)))
    assert screener.status_code == 403
    response = api.post(f"/v1/referrals/{created['id']}/rescreen", token=make_token(agency, ("supervisor",)))
    assert response.status_code == 200, response.text
    body = response.json()
    assert [s["ruleset_version"] for s in body["screenings"]] == ["2026.1", "2026.2"]
    assert [s["trigger"] for s in body["screenings"]] == ["submitted", "rescreen"]
    assert body["screenings"][0] == created["screening"]
    assert body["screening"]["ruleset_version"] == "2026.2"
    assert next(p for p in body["screening"]["programs"] if p["program"] == "young-adult")["status"] == "eligible"
    accepted = decide(api, agency, created["id"], {"action": "accept", "program": "young-adult"})
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["decisions"][-1]["ruleset_version"] == "2026.2"


def test_reinstalling_a_version_with_other_content_is_refused(api, agency):
    pack = demo_pack(agency)
    pack["name"] = "Renamed without a version bump"
    response = api.post("/v1/rulesets", token=make_token(agency, ("admin",)), json=pack)
    assert response.status_code == 409
    wrong_agency = api.post("/v1/rulesets", token=make_token(agency, ("admin",)), json=demo_pack("stl-cao", "9"))
    assert wrong_agency.status_code == 422


@pytest.mark.parametrize(
    ("event", "disposition"),
    [
        (lambda rid: CaseCompleted(case_id="case-1", referral_id=rid, disposition="dismissal",
                                   completed_at=dt.datetime.now(dt.UTC)), "dismissal"),
        (lambda rid: CaseCompleted(case_id="case-1", referral_id=rid, disposition="one_day_probation",
                                   completed_at=dt.datetime.now(dt.UTC)), "one_day_probation"),
        (lambda rid: CaseTerminated(case_id="case-1", referral_id=rid, reason="new_offense",
                                    terminated_at=dt.datetime.now(dt.UTC)), "returned_to_prosecution"),
    ],
    ids=["dismissal", "one-day-probation", "returned-to-prosecution"],
)
def test_case_outcome_from_casework_sets_the_referral_disposition(api, agency, event, disposition):
    created = submit(api, agency)
    assert decide(api, agency, created["id"], {"action": "accept", "program": "young-adult"}).status_code == 200
    event_id = publish_as_casework(event(created["id"]), subject="case-1", agency=agency)

    def disposed():
        body = read(api, agency, created["id"]).json()
        return body if body["status"] == "disposed" else None

    body = wait_for(disposed, 15, "the disposition")
    assert body["disposition"] == disposition
    assert body["case_id"] == "case-1"
    version = body["version"]
    # The same event again (a redelivery or a republished copy) changes nothing.
    publish_as_casework(event(created["id"]), subject="case-1", agency=agency, event_id=event_id)
    marker = submit(api, agency)
    assert decide(api, agency, marker["id"], {"action": "accept", "program": "young-adult"}).status_code == 200
    publish_as_casework(event(marker["id"]), subject="case-2", agency=agency)
    wait_for(lambda: read(api, agency, marker["id"]).json()["status"] == "disposed", 15, "the marker event")
    assert read(api, agency, created["id"]).json()["version"] == version


def test_outcome_for_a_referral_of_another_agency_changes_nothing(api, agency):
    created = submit(api, agency)
    assert decide(api, agency, created["id"], {"action": "accept", "program": "young-adult"}).status_code == 200
    publish_as_casework(CaseTerminated(case_id="c", referral_id=created["id"], reason="other",
                                       terminated_at=dt.datetime.now(dt.UTC)), subject="c", agency="t-intruder")
    marker = submit(api, agency)
    assert decide(api, agency, marker["id"], {"action": "accept", "program": "young-adult"}).status_code == 200
    publish_as_casework(CaseTerminated(case_id="m", referral_id=marker["id"], reason="other",
                                       terminated_at=dt.datetime.now(dt.UTC)), subject="m", agency=agency)
    wait_for(lambda: read(api, agency, marker["id"]).json()["status"] == "disposed", 15, "the marker event")
    assert read(api, agency, created["id"]).json()["status"] == "accepted"


def test_violent_referral_cannot_be_disposed_before_acceptance(api, agency):
    created = submit(api, agency, referral_body(charges=[charge("569.020", "felony_b")]))
    publish_as_casework(CaseCompleted(case_id="x", referral_id=created["id"], disposition="dismissal",
                                      completed_at=dt.datetime.now(dt.UTC)), subject="x", agency=agency)
    marker = submit(api, agency)
    assert decide(api, agency, marker["id"], {"action": "accept", "program": "young-adult"}).status_code == 200
    publish_as_casework(CaseCompleted(case_id="m", referral_id=marker["id"], disposition="dismissal",
                                      completed_at=dt.datetime.now(dt.UTC)), subject="m", agency=agency)
    wait_for(lambda: read(api, agency, marker["id"]).json()["status"] == "disposed", 15, "the marker event")
    assert read(api, agency, created["id"]).json()["status"] == "screened"
