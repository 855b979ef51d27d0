# ruff: noqa: F811 - the `resources` fixture is imported from resources_support and requested by name
"""Closed-loop service referrals: the consent gate, who sees what, every status move, and escalation once."""

from __future__ import annotations

import json
import uuid

from nameko.testing.services import entrypoint_waiter
from resources_support import Harness, resources, wait_for  # noqa: F401 - fixture

from services.resources.directory.needs import stable_id
from tests.conftest import make_token

ST_PATRICK = str(stable_id("organization", "St. Patrick Center"))
HOUSING = str(stable_id("service", "St. Patrick Center", "Housing"))
PLACES = str(stable_id("organization", "Places For People"))
SUBSTANCE = str(stable_id("service", "Places For People", "Substance Abuse"))


CASE_MANAGER = "cm-assigned"


def cm(agency: str) -> str:
    """The case manager the referrals' cases are assigned to (the caseload rule, ADR 0071)."""
    return make_token(agency, ("case_manager",), sub=CASE_MANAGER)


def referral_body(service_id: str = HOUSING, participant_id: str | None = None, **extra: object) -> dict:
    return {
        "case_id": f"case-{uuid.uuid4().hex[:6]}",
        "participant_id": participant_id or f"p-{uuid.uuid4().hex[:8]}",
        "participant_name": "Jordan Example",
        "contact": {"phone": "314-555-0100", "email": "jordan@example.org", "preferred_language": "en"},
        "need": "Stable housing within a month",
        "need_category": "housing",
        "appointment_preference": "weekday mornings",
        "service_id": service_id,
        "consent": {"categories": ["contact_info", "needs_assessment"], "purpose": "service_referral"},
        **extra,
    }


def outbox_rows(h: Harness, subject: str, event_type: str | None = None) -> list:
    rows = h.sql("SELECT event_type, body FROM outbox WHERE subject = :s ORDER BY id", s=subject)
    return [r for r in rows if event_type is None or r.event_type.endswith(event_type)]


def refer(h: Harness, api, agency: str, service_id: str = HOUSING, organization_id: str = ST_PATRICK, **kw):
    body = referral_body(service_id, **kw)
    h.caseload(agency, body["case_id"], body["participant_id"], CASE_MANAGER)
    h.ledger.grant(agency, body["participant_id"], organization_id)
    response = api.post("/v1/service-referrals", token=cm(agency), json=body,
                        headers={"Idempotency-Key": uuid.uuid4().hex})
    assert response.status_code == 201, response.text
    return response


def move(api, token: str, referral: dict, etag: str, status: str, **extra: object):
    return api.request("PATCH", f"/v1/service-referrals/{referral['id']}", token=token,
                       json={"status": status, **extra}, headers={"If-Match": etag})


def test_referral_with_covering_consent_is_stored_and_published_to_the_partner(resources, agency):
    api = resources.start()
    created = refer(resources, api, agency)
    referral = created.json()
    assert referral["status"] == "requested"
    assert referral["organization_id"] == ST_PATRICK
    call = resources.ledger.calls[-1]
    assert call["agency"] == agency  # identity travelled with the RPC
    assert call["recipient_org"] == ST_PATRICK and "contact_info" in call["categories"]
    assert call["purpose"] == "service_referral"
    (requested,) = outbox_rows(resources, referral["id"], "service_referral.requested")
    event = json.loads(requested.body)
    assert event["tenantid"] == agency
    partner_view = event["data"]["partner"]
    assert partner_view["participant_name"] == "Jordan Example"
    assert "case_id" not in event["data"] and "participant_id" not in event["data"]
    assert partner_view["redisclosure_notice"]


def test_referral_without_covering_consent_is_refused_and_nothing_is_stored_or_published(resources, agency):
    api = resources.start()
    body = referral_body()
    resources.caseload(agency, body["case_id"], body["participant_id"], CASE_MANAGER)
    response = api.post("/v1/service-referrals", token=cm(agency), json=body)
    assert response.status_code == 403
    assert response.json()["type"].endswith("/consent-required")
    assert resources.sql("SELECT id FROM service_referral WHERE participant_id = :p", p=body["participant_id"]) == []
    assert resources.sql("SELECT id FROM outbox WHERE body LIKE :p", p=f"%{body['participant_name']}%{agency}%") \
        == []
    assert resources.sql("SELECT count(*) FROM outbox WHERE body LIKE :a", a=f'%"tenantid":"{agency}"%')[0][0] == 0


def test_consent_for_another_organization_does_not_cover_this_one(resources, agency):
    api = resources.start()
    body = referral_body()
    resources.caseload(agency, body["case_id"], body["participant_id"], CASE_MANAGER)
    resources.ledger.grant(agency, body["participant_id"], PLACES)
    response = api.post("/v1/service-referrals", token=cm(agency), json=body)
    assert response.status_code == 403


def test_consent_check_timeout_answers_503_and_sends_nothing(resources, agency):
    api = resources.start(DIVERSION_RPC_TIMEOUT_SECONDS="0.5")
    resources.ledger.delay = 2.0
    body = referral_body()
    resources.caseload(agency, body["case_id"], body["participant_id"], CASE_MANAGER)
    resources.ledger.grant(agency, body["participant_id"], ST_PATRICK)
    response = api.post("/v1/service-referrals", token=cm(agency), json=body)
    assert response.status_code == 503
    assert response.json()["type"].endswith("/consent-check-unavailable")
    assert resources.sql("SELECT id FROM service_referral WHERE participant_id = :p", p=body["participant_id"]) == []


def test_consent_check_with_casework_down_answers_503(resources, agency):
    api = resources.start(casework=False)
    body = referral_body()
    resources.caseload(agency, body["case_id"], body["participant_id"], CASE_MANAGER)
    response = api.post("/v1/service-referrals", token=cm(agency), json=body)
    assert response.status_code == 503


def test_same_idempotency_key_creates_one_referral(resources, agency):
    api = resources.start()
    body = referral_body()
    resources.caseload(agency, body["case_id"], body["participant_id"], CASE_MANAGER)
    resources.ledger.grant(agency, body["participant_id"], ST_PATRICK)
    token = cm(agency)
    first = api.post("/v1/service-referrals", token=token, json=body, headers={"Idempotency-Key": "k1"})
    again = api.post("/v1/service-referrals", token=token, json=body, headers={"Idempotency-Key": "k1"})
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert len(resources.sql("SELECT id FROM service_referral WHERE participant_id = :p",
                             p=body["participant_id"])) == 1


def test_partner_sees_only_referrals_to_its_organization_and_only_shared_fields(resources, agency):
    api = resources.start()
    to_a = refer(resources, api, agency).json()
    to_b = refer(resources, api, agency, SUBSTANCE, PLACES).json()
    partner_a = make_token(agency, ("partner",), org=ST_PATRICK)
    listed = api.get("/v1/service-referrals", token=partner_a).json()["items"]
    assert [r["id"] for r in listed] == [to_a["id"]]
    own = api.get(f"/v1/service-referrals/{to_a['id']}", token=partner_a)
    assert own.status_code == 200
    assert {"case_id", "participant_id", "consent_id", "consent", "note", "requested_by"}.isdisjoint(own.json())
    # the default sharing profile (ADR 0070): the first name, not the whole name; no free-text need
    assert own.json()["participant_first_name"] == "Jordan"
    assert {"participant_name", "need", "appointment_preference"}.isdisjoint(own.json())
    other = api.get(f"/v1/service-referrals/{to_b['id']}", token=partner_a)
    missing = api.get(f"/v1/service-referrals/{uuid.uuid4()}", token=partner_a)
    assert other.status_code == missing.status_code == 404
    changed = move(api, partner_a, to_b, '"anything"', "accepted")
    assert changed.status_code == 404
    history = api.get(f"/v1/service-referrals/{to_a['id']}/history", token=partner_a)
    assert history.status_code == 403


def test_an_agency_never_sees_another_agencys_referrals(resources, agency):
    api = resources.start()
    mine = refer(resources, api, agency).json()
    other = make_token(f"{agency}-x", ("case_manager", "supervisor"))
    assert api.get(f"/v1/service-referrals/{mine['id']}", token=other).status_code == 404
    assert api.get("/v1/service-referrals", token=other).json()["items"] == []
    partner_other_agency = make_token(f"{agency}-x", ("partner",), org=ST_PATRICK)
    assert api.get(f"/v1/service-referrals/{mine['id']}", token=partner_other_agency).status_code == 404


def walk(api, h: Harness, agency: str, steps: list[tuple[str, str, dict]]) -> dict:
    created = refer(h, api, agency)
    referral, etag = created.json(), created.headers["ETag"]
    tokens = {"partner": make_token(agency, ("partner",), org=ST_PATRICK),
              "agency": cm(agency)}
    for who, status, extra in steps:
        response = move(api, tokens[who], referral, etag, status, **extra)
        assert response.status_code == 200, (status, response.text)
        referral, etag = response.json(), response.headers["ETag"]
        assert referral["status"] == status
    return referral


def test_partner_walks_a_referral_from_requested_to_completed_with_history_and_events(resources, agency):
    api = resources.start()
    done = walk(api, resources, agency, [("partner", "received", {}), ("partner", "accepted", {}),
                                         ("partner", "in-progress", {}), ("partner", "completed", {"note": "ok"})])
    assert done["allowed_next"] == []
    history = api.get(f"/v1/service-referrals/{done['id']}/history", token=cm(agency))
    assert [(h["from_status"], h["to_status"]) for h in history.json()] == [
        (None, "requested"), ("requested", "received"), ("received", "accepted"), ("accepted", "in-progress"),
        ("in-progress", "completed")]
    changes = [json.loads(r.body)["data"] for r in outbox_rows(resources, done["id"], "status_changed")]
    assert [c["status"] for c in changes] == ["received", "accepted", "in-progress", "completed"]
    agency_view = api.get(f"/v1/service-referrals/{done['id']}", token=cm(agency))
    case_id = agency_view.json()["case_id"]
    assert {c["case_id"] for c in changes} == {case_id}


def test_every_ending_needs_its_reason_and_is_published(resources, agency):
    api = resources.start()
    rejected = walk(api, resources, agency, [("partner", "rejected", {"reason_code": "at_capacity"})])
    cancelled = walk(api, resources, agency, [("partner", "received", {}),
                                              ("agency", "cancelled", {"reason_code": "need_met_elsewhere"})])
    failed = walk(api, resources, agency, [("partner", "accepted", {}),
                                           ("partner", "failed", {"reason_code": "participant_no_show"})])
    for referral, status, code in ((rejected, "rejected", "at_capacity"),
                                   (cancelled, "cancelled", "need_met_elsewhere"),
                                   (failed, "failed", "participant_no_show")):
        last = json.loads(outbox_rows(resources, referral["id"], "status_changed")[-1].body)["data"]
        assert (last["status"], last["reason_code"]) == (status, code)
    created = refer(resources, api, agency)
    no_reason = move(api, make_token(agency, ("partner",), org=ST_PATRICK), created.json(),
                     created.headers["ETag"], "rejected")
    assert no_reason.status_code == 422


def test_illegal_transition_answers_409_naming_the_allowed_ones(resources, agency):
    api = resources.start()
    created = refer(resources, api, agency)
    partner = make_token(agency, ("partner",), org=ST_PATRICK)
    response = move(api, partner, created.json(), created.headers["ETag"], "completed")
    assert response.status_code == 409
    assert response.json()["allowed"] == ["accepted", "received", "rejected"]
    by_agency = move(api, cm(agency), created.json(), created.headers["ETag"], "accepted")
    assert by_agency.status_code == 409 and by_agency.json()["allowed"] == ["cancelled"]
    stale = move(api, partner, created.json(), '"stale.0"', "received")
    assert stale.status_code == 412
    assert outbox_rows(resources, created.json()["id"], "status_changed") == []


def test_unanswered_referral_escalates_once_with_two_instances_running(resources, agency):
    first = resources.start(DIVERSION_RESOURCES_REFERRAL_SLA_HOURS="0",
                            DIVERSION_RESOURCES_ESCALATION_INTERVAL_SECONDS="0.2")
    second = resources.start(DIVERSION_RESOURCES_REFERRAL_SLA_HOURS="0",
                             DIVERSION_RESOURCES_ESCALATION_INTERVAL_SECONDS="0.2")
    ids = [refer(resources, api, agency).json()["id"] for api in (first, second, first, second, first)]
    wait_for(lambda: all(outbox_rows(resources, i, "escalated") for i in ids), what="escalations")
    for api in (first, second):  # let both timers run again: nothing may be escalated twice
        with entrypoint_waiter(api.container, "escalate_unanswered_referrals", timeout=10):
            pass
        with entrypoint_waiter(api.container, "escalate_unanswered_referrals", timeout=10):
            pass
    for referral_id in ids:
        (event,) = outbox_rows(resources, referral_id, "escalated")
        assert json.loads(event.body)["data"]["case_id"].startswith("case-")


def test_answered_referral_does_not_escalate(resources, agency):
    api = resources.start(DIVERSION_RESOURCES_REFERRAL_SLA_HOURS="0",
                          DIVERSION_RESOURCES_ESCALATION_INTERVAL_SECONDS="5")
    created = refer(resources, api, agency)
    partner = make_token(agency, ("partner",), org=ST_PATRICK)
    assert move(api, partner, created.json(), created.headers["ETag"], "received").status_code == 200
    with entrypoint_waiter(api.container, "escalate_unanswered_referrals", timeout=10):
        pass
    assert outbox_rows(resources, created.json()["id"], "escalated") == []
