# ruff: noqa: F811 - the `resources` fixture is imported from resources_support and requested by name
"""Sealing in resources (issue 16 item 2, ADR 0083): intake's record.sealing_requested over the real broker
marks the case's service referrals once and resources confirms every delivery of the request; a sealed
referral is then absent for the partner and the agency's staff (read, history, status change, lists) and a
records officer opens it only naming a RSMo 610.120 code, each opening audited."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from resources_support import Harness, resources, wait_for  # noqa: F401 - fixture
from test_resources_referrals import ST_PATRICK, cm, refer

from shared.messaging.catalog import RecordSealingRequested
from shared.messaging.envelope import CloudEvent, new_event
from tests.conftest import make_token
from tests.support.publishing import publish


def sealing_request(agency: str, case_id: str | None, request_id: str, attempt: int = 1,
                    referral_id: str = "ref-sealed") -> CloudEvent[RecordSealingRequested]:
    return new_event(RecordSealingRequested(
        request_id=request_id, referral_id=referral_id, case_id=case_id, requested_at=datetime.now(UTC),
        attempt=attempt, disposition="dismissal", pack_version="2026.1"), subject=referral_id, tenantid=agency)


def consumed(h: Harness, *events: CloudEvent) -> bool:
    ids = [event.id for event in events]
    return all(h.sql("SELECT count(*) FROM inbox WHERE event_id = :e", e=e)[0][0] == 1 for e in ids)


def confirmations(h: Harness, kind: str, referral_id: str) -> list[dict]:
    rows = h.sql("SELECT event_type, body FROM outbox WHERE subject = :s ORDER BY id", s=referral_id)
    return [json.loads(r.body)["data"] for r in rows if r.event_type.endswith(f"record.{kind}_confirmed")]


def without_ids(problem: dict) -> dict:
    return {k: v for k, v in problem.items() if k not in ("instance", "request_id")}


def test_a_sealing_request_delivered_twice_marks_once_and_confirms_every_delivery(resources, agency):
    api = resources.start()
    ref = refer(resources, api, agency).json()
    other = refer(resources, api, agency).json()
    case_id = resources.sql("SELECT case_id FROM service_referral WHERE id = :i", i=ref["id"])[0][0]
    request_id, referral_id = f"seal-{uuid.uuid4().hex[:8]}", f"ref-{uuid.uuid4().hex[:8]}"
    first = sealing_request(agency, case_id, request_id, referral_id=referral_id)
    publish(first, first)  # the same event twice: the inbox handles it once
    wait_for(lambda: consumed(resources, first), what="record.sealing_requested consumed")
    retry = sealing_request(agency, case_id, request_id, attempt=2, referral_id=referral_id)
    publish(retry)  # intake's retry: a new event, same request
    wait_for(lambda: len(confirmations(resources, "sealing", referral_id)) == 2, what="two confirmations")

    marks = resources.sql("SELECT kind, record_id, request_id FROM record_mark WHERE agency_id = :a", a=agency)
    assert sorted(tuple(m) for m in marks) == [("case", case_id, request_id),
                                               ("service_referral", ref["id"], request_id)]
    assert other["id"] not in {m.record_id for m in marks}
    first_answer, second_answer = confirmations(resources, "sealing", referral_id)
    assert (first_answer["service"], first_answer["request_id"]) == ("resources", request_id)
    assert first_answer["counts"] == {"service_referral": 1, "case": 1}
    assert second_answer["counts"] == {"service_referral": 0, "case": 0}
    # a request without a case seals nothing and still confirms
    caseless = sealing_request(agency, None, f"seal-{uuid.uuid4().hex[:8]}", referral_id=f"ref-{uuid.uuid4().hex}")
    publish(caseless)
    wait_for(lambda: len(confirmations(resources, "sealing", caseless.data.referral_id)) == 1, what="caseless")
    assert confirmations(resources, "sealing", caseless.data.referral_id)[0]["counts"] == {
        "service_referral": 0, "case": 0}
    assert len(resources.sql("SELECT 1 FROM record_mark WHERE agency_id = :a", a=agency)) == 2


def test_a_sealed_referral_is_absent_for_partner_and_staff_and_opens_to_a_records_officer(resources, agency):
    api = resources.start()
    created = refer(resources, api, agency)
    ref, tag = created.json(), created.headers["ETag"]
    other = refer(resources, api, agency).json()
    case_id = resources.sql("SELECT case_id FROM service_referral WHERE id = :i", i=ref["id"])[0][0]
    partner = make_token(agency, ("partner",), org=ST_PATRICK, sub="partner-1")
    supervisor = make_token(agency, ("supervisor",), sub="sup-1")
    staff = {"partner": partner, "case manager": cm(agency), "supervisor": supervisor}
    path = f"/v1/service-referrals/{ref['id']}"
    for who, token in staff.items():  # readable before the sealing: the test can fail
        assert api.get(path, token=token).status_code == 200, who
    request = sealing_request(agency, case_id, f"seal-{uuid.uuid4().hex[:8]}")
    publish(request)
    wait_for(lambda: consumed(resources, request), what="record.sealing_requested consumed")

    absent = api.get(f"/v1/service-referrals/{uuid.uuid4()}", token=supervisor)
    assert absent.status_code == 404
    for who, token in staff.items():
        read = api.get(path, token=token)
        assert read.status_code == 404, (who, read.text)
        assert without_ids(read.json()) == without_ids(absent.json()), who
        moved = api.request("PATCH", path, token=token, headers={"If-Match": tag},
                            json={"status": "received"} if who == "partner" else
                            {"status": "cancelled", "reason_code": "other"})
        assert moved.status_code == 404, (who, moved.text)
        listed = api.get("/v1/service-referrals", token=token)
        assert listed.status_code == 200, listed.text
        ids = {item["id"] for item in listed.json()["items"]}
        assert ref["id"] not in ids and other["id"] in ids, who
    for token in (cm(agency), supervisor):
        assert api.get(f"{path}/history", token=token).status_code == 404
    assert resources.sql("SELECT status, version FROM service_referral WHERE id = :i", i=ref["id"])[0] == (
        "requested", 1)  # no status change went through

    officer = make_token(agency, ("records_officer",), sub="ro-1")
    assert api.get(path, token=officer).status_code == 400
    unknown = api.get(path, token=officer, headers={"X-Legal-Basis": "curiosity"})
    assert unknown.status_code == 400 and unknown.headers["Content-Type"].startswith("application/problem+json")
    opened = api.get(path, token=officer, headers={"X-Legal-Basis": "court-order"})
    assert opened.status_code == 200, opened.text
    assert opened.json()["id"] == ref["id"] and opened.json()["participant_name"] == "Jordan Example"
    history = api.get(f"{path}/history", token=officer, headers={"X-Legal-Basis": "court-order"})
    assert history.status_code == 200 and [h["to_status"] for h in history.json()] == ["requested"]
    listed = api.get("/v1/service-referrals", token=officer, headers={"X-Legal-Basis": "subject-of-record"})
    assert {ref["id"], other["id"]} <= {item["id"] for item in listed.json()["items"]}
    plain = api.get("/v1/service-referrals", token=officer)  # no basis named: sealed ones left out
    assert ref["id"] not in {item["id"] for item in plain.json()["items"]}
    audits = resources.sql("SELECT actor, resource_id, detail FROM audit_event WHERE agency_id = :a AND "
                           "action = 'sealed_record.opened' ORDER BY id", a=agency)
    details = [json.loads(r.detail) if isinstance(r.detail, str) else r.detail for r in audits]
    assert [(r.actor, r.resource_id) for r in audits] == [("ro-1", ref["id"])] * 3
    assert details == [{"legal_basis": "court-order"}] * 2 + [{"legal_basis": "subject-of-record"}]
