# ruff: noqa: F811 - the `resources` fixture is imported from resources_support and requested by name
"""The caseload rule in resources (ADR 0071): learnt from casework's case.opened and case.assigned over the
real broker; a case manager not on the case gets 403 as in casework, a foreign case_id 422, a reassignment
moves access; referrals and partner reads are published as disclosures for the accounting."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

from resources_support import resources, wait_for  # noqa: F401 - fixture
from test_resources_referrals import HOUSING, ST_PATRICK, referral_body

from shared.messaging.catalog import CaseAssigned, CaseOpened
from shared.messaging.envelope import new_event
from tests.conftest import make_token
from tests.support.publishing import publish

NOW = datetime.now(UTC)


def opened(agency: str, case_id: str, participant_id: str):
    return new_event(CaseOpened(case_id=case_id, referral_id=f"ref-{uuid.uuid4().hex[:6]}", program="young-adult",
                                opened_at=NOW, participant_id=participant_id, state="active"),
                     subject=case_id, tenantid=agency)


def assigned(agency: str, case_id: str, sub: str, at: datetime, previous: str | None = None):
    return new_event(CaseAssigned(case_id=case_id, case_manager=sub, previous_case_manager=previous, assigned_at=at),
                     subject=case_id, tenantid=agency)


def manager(h, agency: str, case_id: str) -> object:
    rows = h.sql("SELECT participant_id, case_manager FROM caseload_entry WHERE agency_id = :a AND case_id = :c",
                 a=agency, c=case_id)
    return tuple(rows[0]) if rows else None


def post(api, token: str, body: dict):
    return api.post("/v1/service-referrals", token=token, json=body, headers={"Idempotency-Key": uuid.uuid4().hex})


def denied(h, agency: str, action: str) -> list:
    return h.sql("SELECT actor, detail FROM audit_event WHERE agency_id = :a AND action = :x AND outcome = 'denied'",
                 a=agency, x=action)


def test_the_caseload_comes_from_casework_events_and_reassignment_moves_access(resources, agency):
    api = resources.start()
    case_id, person = f"case-{uuid.uuid4().hex[:8]}", f"p-{uuid.uuid4().hex[:8]}"
    other_case, other_person = f"case-{uuid.uuid4().hex[:8]}", f"p-{uuid.uuid4().hex[:8]}"
    # the assignment may arrive before the case: both are kept
    publish(assigned(agency, case_id, "cm-a", NOW), opened(agency, case_id, person),
            opened(agency, other_case, other_person), assigned(agency, other_case, "cm-a", NOW))
    wait_for(lambda: manager(resources, agency, case_id) == (person, "cm-a")
             and manager(resources, agency, other_case) == (other_person, "cm-a"), what="caseload from events")
    cm_a, cm_b = (make_token(agency, ("case_manager",), sub=s) for s in ("cm-a", "cm-b"))
    supervisor = make_token(agency, ("supervisor",), sub="sup-1")
    body = referral_body(HOUSING, participant_id=person, case_id=case_id)
    resources.ledger.grant(agency, person, ST_PATRICK)

    # not on the case: 403 (audited), nothing asked of casework; a case of someone else: 422; unknown case: 422
    calls_before = len(resources.ledger.calls)
    refused = post(api, cm_b, body)
    assert refused.status_code == 403, refused.text
    assert refused.json()["type"].endswith("/not-on-caseload")
    assert len(resources.ledger.calls) == calls_before
    foreign = post(api, cm_a, {**body, "case_id": other_case})
    assert foreign.status_code == 422 and foreign.json()["type"].endswith("/case-participant-mismatch")
    assert post(api, cm_a, {**body, "case_id": "case-nobody"}).status_code == 422
    assert post(api, supervisor, {**body, "case_id": other_case}).status_code == 422  # supervisors too
    assert [r.actor for r in denied(resources, agency, "service_referral.create")].count("cm-b") == 1

    created = post(api, cm_a, body)
    assert created.status_code == 201, created.text
    referral = created.json()
    assert resources.ledger.calls[-1]["case_id"] == case_id
    assert resources.ledger.calls[-1]["channel"] == "service_referral"
    path = f"/v1/service-referrals/{referral['id']}"

    def sees(token: str) -> tuple[int, int, list[str]]:
        listed = api.get("/v1/service-referrals", token=token).json()["items"]
        return (api.get(path, token=token).status_code, api.get(f"{path}/history", token=token).status_code,
                [r["id"] for r in listed])

    assert sees(cm_a) == (200, 200, [referral["id"]])
    assert sees(cm_b) == (403, 403, [])
    assert sees(supervisor) == (200, 200, [referral["id"]])
    assert move_status(api, cm_b, referral, created.headers["ETag"]) == 403
    assert any(r.actor == "cm-b" for r in denied(resources, agency, "service_referral.read"))

    # reassignment to cm-b moves access; a late copy of an older assignment changes nothing
    publish(assigned(agency, case_id, "cm-b", NOW + timedelta(minutes=5), previous="cm-a"))
    wait_for(lambda: manager(resources, agency, case_id) == (person, "cm-b"), what="reassignment")
    late = assigned(agency, case_id, "cm-a", NOW - timedelta(minutes=5))
    publish(late)
    wait_for(lambda: resources.sql("SELECT count(*) FROM inbox WHERE event_id = :e", e=late.id)[0][0] == 1,
             what="the late assignment consumed")
    assert manager(resources, agency, case_id) == (person, "cm-b")
    assert sees(cm_b) == (200, 200, [referral["id"]])
    assert sees(cm_a) == (403, 403, [])
    assert post(api, cm_a, body).status_code == 403
    assert post(api, cm_b, body).status_code == 201


def move_status(api, token: str, referral: dict, etag: str) -> int:
    return api.request("PATCH", f"/v1/service-referrals/{referral['id']}", token=token,
                       json={"status": "cancelled", "reason_code": "need_met_elsewhere"},
                       headers={"If-Match": etag}).status_code


def test_a_referral_and_each_partner_read_are_published_as_disclosures(resources, agency):
    api = resources.start()
    body = referral_body()
    resources.caseload(agency, body["case_id"], body["participant_id"], "cm-a")
    resources.ledger.grant(agency, body["participant_id"], ST_PATRICK)
    created = post(api, make_token(agency, ("case_manager",), sub="cm-a"), body).json()
    partner = make_token(agency, ("partner",), org=ST_PATRICK)
    assert api.get(f"/v1/service-referrals/{created['id']}", token=partner).status_code == 200

    rows = resources.sql("SELECT body FROM outbox WHERE subject = :s ORDER BY id", s=body["participant_id"])
    events = [json.loads(r.body) for r in rows]
    assert [e["type"] for e in events] == ["org.diversion.resources.disclosure.recorded"] * 2
    assert {e["tenantid"] for e in events} == {agency}
    sent, read = (e["data"] for e in events)
    assert sent["channel"] == "service_referral" and read["channel"] == "partner_read"
    for data in (sent, read):
        assert data["outcome"] == "disclosed"
        assert (data["participant_id"], data["case_id"], data["service_referral_id"], data["recipient_org_id"]) == (
            body["participant_id"], body["case_id"], created["id"], ST_PATRICK)
        assert data["categories"] == created["consent"]["categories"]
        assert data["consent_id"] == created["consent_id"]
