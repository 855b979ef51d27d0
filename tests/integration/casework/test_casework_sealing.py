"""Sealing in casework (issue 16 item 2, ADR 0083), over the real broker and PostgreSQL: record.sealing_requested
delivered twice (a retry) seals the case and its participant once and confirms twice through the outbox; ordinary
roles then get the very 404 of a nonexistent id on the case, the participant and their parts, lists and searches
leave them out, aggregate reports still count them; a records officer opens them only with X-Legal-Basis."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.audit import _writer_table as audit_rows
from shared.messaging.catalog import RecordSealingRequested
from shared.messaging.envelope import new_event
from shared.records import TABLES as RECORDS
from tests.conftest import make_token
from tests.integration.casework.conftest import outbox_events, wait_for
from tests.integration.casework.test_casework_people import open_via_broker

CASE_PARTS = ("plan", "timeline", "assignments", "conditions", "contacts", "appointments", "assessments")
PARTICIPANT_PARTS = ("consents", "links", "disclosures", "history")


def sealing_request(agency: str, case, request_id: str, attempt: int):
    data = RecordSealingRequested(request_id=request_id, referral_id=case.referral_id, case_id=case.id,
                                  requested_at=datetime.now(UTC), attempt=attempt, disposition="dismissal",
                                  pack_version="2026.1")
    return new_event(data, subject=request_id, tenantid=agency)


def confirmations(engine, agency: str) -> list[dict]:
    return [e["data"] for e in outbox_events(engine, agency, "sealing_confirmed")]


def marks(engine, agency: str) -> list[tuple[str, str]]:
    with Session(engine) as session:
        return sorted(session.execute(select(RECORDS.marks.c.kind, RECORDS.marks.c.record_id)
                                      .where(RECORDS.marks.c.agency_id == agency)).tuples())


def problem(response) -> dict:
    body = response.json()
    return {k: body.get(k) for k in ("type", "title", "status", "detail")}


def seal(tenant, intake, engine, case) -> None:
    request_id = f"seal-{uuid.uuid4().hex[:8]}"
    intake.publish(sealing_request(tenant.slug, case, request_id, 1))
    wait_for(lambda: len(confirmations(engine, tenant.slug)) == 1, what="the first confirmation")
    intake.publish(sealing_request(tenant.slug, case, request_id, 2))  # intake's retry: a new event, same request
    wait_for(lambda: len(confirmations(engine, tenant.slug)) == 2, what="the retry's confirmation")


def test_a_retried_sealing_request_seals_once_and_confirms_twice(tenant, intake, engine):
    tenant.add_staff("cm-1")
    case = open_via_broker(intake, engine, tenant.slug)
    seal(tenant, intake, engine, case)
    first, second = confirmations(engine, tenant.slug)
    assert first["counts"] == {"case": 1, "participant": 1} and first["service"] == "casework"
    assert second["counts"] == {"case": 0, "participant": 0}
    assert {first["request_id"], first["referral_id"]} == {second["request_id"], case.referral_id}
    assert marks(engine, tenant.slug) == sorted([("case", case.id), ("participant", case.participant_id)])


def test_an_unknown_case_is_confirmed_with_nothing_sealed(tenant, intake, engine):
    class Absent:
        id, referral_id = "no-such-case", "ref-never-opened"

    intake.publish(sealing_request(tenant.slug, Absent, "seal-absent", 1))
    wait_for(lambda: confirmations(engine, tenant.slug), what="the confirmation")
    assert confirmations(engine, tenant.slug)[0]["counts"] == {"case": 0, "participant": 0}
    assert marks(engine, tenant.slug) == []


def test_a_sealed_case_is_absent_for_ordinary_roles_and_opened_by_a_records_officer(tenant, intake, engine):
    tenant.add_staff("cm-1")
    for _ in range(10):  # enough cases for the outcome report's cells to show (cells under 10 are suppressed)
        tenant.open_case()
    case = open_via_broker(intake, engine, tenant.slug)
    other = open_via_broker(intake, engine, tenant.slug)
    api = tenant.api
    admin = make_token(tenant.slug, ("admin",), sub="adm-1")
    ordinary = {"supervisor": tenant.supervisor, "auditor": tenant.auditor, "admin": admin,
                "case_manager": tenant.manager_token()}
    paths = [f"/v1/cases/{case.id}", f"/v1/participants/{case.participant_id}",
             *[f"/v1/cases/{case.id}/{part}" for part in CASE_PARTS],
             *[f"/v1/participants/{case.participant_id}/{part}" for part in PARTICIPANT_PARTS]]
    for path in paths:  # all readable before
        assert api.get(path, token=tenant.supervisor).status_code == 200, path
    outcomes_before = api.get("/v1/reports/outcomes", token=tenant.supervisor).json()
    caseload_before = api.get("/v1/reports/caseload", token=tenant.supervisor).json()

    seal(tenant, intake, engine, case)

    absent_case = problem(api.get("/v1/cases/no-such-case", token=tenant.supervisor))
    absent_person = problem(api.get("/v1/participants/no-such-participant", token=tenant.supervisor))
    for role, token in ordinary.items():
        for path in paths:
            response = api.get(path, token=token)
            assert response.status_code == 404, (role, path, response.text)
            assert problem(response) == (absent_case if path.startswith("/v1/cases") else absent_person), path
        assert api.get(f"/v1/cases/{other.id}", token=token).status_code == 200, role  # other cases untouched
    write = api.post(f"/v1/cases/{case.id}/contacts", token=tenant.manager_token(),
                     json={"kind": "check_in", "scheduled_for": datetime.now(UTC).isoformat()})
    assert write.status_code == 404 and problem(write) == absent_case

    listed = [c["id"] for c in api.get("/v1/cases", token=tenant.supervisor, params={"limit": 100}).json()["items"]]
    assert other.id in listed and case.id not in listed
    found = api.get("/v1/participants", token=tenant.supervisor, params={"name": "Jordan", "limit": 100}).json()
    hits = [hit["id"] for hit in found["items"]]
    assert other.participant_id in hits and case.participant_id not in hits
    by_referral = api.get("/v1/cases", token=tenant.supervisor, params={"referral_id": case.referral_id})
    assert by_referral.json()["items"] == []
    # Aggregate reports keep counting the sealed case.
    assert api.get("/v1/reports/outcomes", token=tenant.supervisor).json() == outcomes_before
    assert api.get("/v1/reports/caseload", token=tenant.supervisor).json() == caseload_before

    officer = make_token(tenant.slug, ("records_officer",), sub="ro-1")
    assert api.get(f"/v1/cases/{case.id}", token=officer).status_code == 400
    unknown = api.get(f"/v1/cases/{case.id}", token=officer, headers={"X-Legal-Basis": "curiosity"})
    assert unknown.status_code == 400 and unknown.headers["Content-Type"].startswith("application/problem+json")
    opened = api.get(f"/v1/cases/{case.id}", token=officer, headers={"X-Legal-Basis": "court-order"})
    assert opened.status_code == 200 and opened.json()["id"] == case.id
    person = api.get(f"/v1/participants/{case.participant_id}/consents", token=officer,
                     headers={"X-Legal-Basis": "subject-of-record"})
    assert person.status_code == 200, person.text
    with_basis = api.get("/v1/cases", token=officer, params={"limit": 100},
                         headers={"X-Legal-Basis": "court-order"}).json()
    assert case.id in [c["id"] for c in with_basis["items"]]
    with Session(engine) as session:
        openings = list(session.execute(select(audit_rows).where(
            audit_rows.c.agency_id == tenant.slug, audit_rows.c.action == "sealed_record.opened")).mappings())
    assert {(o["resource_type"], o["resource_id"]) for o in openings} >= {("case", case.id),
                                                                           ("participant", case.participant_id)}
    assert {str(o["detail"]) for o in openings} <= {str({"legal_basis": "court-order"}),
                                                    str({"legal_basis": "subject-of-record"})}
