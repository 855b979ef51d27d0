"""The sealing ledger against PostgreSQL and the broker (ADR 0083): a sealing disposition writes one entry and
one request, the services' confirmations fill it, a silent service is asked again past the bound and then
surfaced; the ledger API; and a sealed referral disappears from ordinary reads, lists and the export."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from intake_api_support import submit
from intake_sealing_support import (
    SEALING_REQUESTED,
    accepted_case,
    clock,
    complete,
    handled,
    ledger,
    ledger_of,
    outbox_events,
    publish_as,
    read,
    start_intake,
)
from sqlalchemy import create_engine, select

from services.intake.models import AuditEvent
from shared.messaging.catalog import (
    CaseworkSealingConfirmed,
    NotificationsSealingConfirmed,
    ResourcesSealingConfirmed,
)
from tests.conftest import make_token
from tests.support.waiting import wait_for


@pytest.fixture
def api(start_service, agency, tmp_path):
    return start_intake(start_service, agency, tmp_path)


def _sealed(api, agency, pg_databases):
    referral_id, case_id = accepted_case(api, agency)
    first = complete(referral_id, case_id, agency)
    entry = wait_for(lambda: ledger_of(api, agency, referral_id), 15, "the ledger entry")
    wait_for(lambda: handled(pg_databases["intake"], first), 10, "the disposition handled")
    return referral_id, case_id, entry


def test_a_dismissal_writes_one_entry_and_one_request_even_when_delivered_twice(api, agency, pg_databases):
    referral_id, case_id, entry = _sealed(api, agency, pg_databases)
    assert (entry["kind"], entry["case_id"], entry["pack_version"], entry["disposition"]) == (
        "sealing", case_id, "2026.1", "dismissal")
    assert entry["services"]["intake"] is not None and entry["missing"] == ["casework", "resources", "notifications"]
    assert entry["state"] == "pending" and entry["retries"] == 0 and entry["surfaced"] is False
    # The same event again (an outbox republish: a new event id) creates nothing new.
    again = complete(referral_id, case_id, agency)
    wait_for(lambda: handled(pg_databases["intake"], again), 10, "the redelivery handled")
    [sent] = outbox_events(pg_databases["intake"], SEALING_REQUESTED, referral_id)
    data = json.loads(sent.body)["data"]
    assert (data["request_id"], data["attempt"], data["case_id"], data["disposition"]) == (
        entry["request_id"], 1, case_id, "dismissal")
    assert ledger_of(api, agency, referral_id)["request_id"] == entry["request_id"]
    # A returned-to-prosecution or undisposed referral has no entry.
    other = submit(api, agency)
    assert ledger_of(api, agency, other["id"]) is None


def test_confirmations_fill_the_ledger_and_a_silent_service_is_retried_then_surfaced(api, agency, pg_databases,
                                                                                    caplog):
    referral_id, _, entry = _sealed(api, agency, pg_databases)
    request_id = entry["request_id"]
    for service, model in (("casework", CaseworkSealingConfirmed), ("resources", ResourcesSealingConfirmed)):
        publish_as(service, model(request_id=request_id, referral_id=referral_id, service=service,
                                  counts={"case": 1}, confirmed_at=dt.datetime.now(dt.UTC)),
                   subject=referral_id, agency=agency)
    # An unknown request id is logged and acked.
    unknown = publish_as("casework", CaseworkSealingConfirmed(
        request_id=str(uuid.uuid4()), referral_id=referral_id, service="casework",
        confirmed_at=dt.datetime.now(dt.UTC)),
        subject=referral_id, agency=agency)
    wait_for(lambda: handled(pg_databases["intake"], unknown), 10, "the unknown confirmation acked")
    entry = wait_for(lambda: (e := ledger_of(api, agency, referral_id))["missing"] == ["notifications"] and e, 15,
                     "two confirmations")
    assert entry["services"]["casework"] and entry["services"]["resources"]

    requested = dt.datetime.fromisoformat(entry["requested_at"])
    surfaced = clock(api).surfaced.labels("sealing")
    before = surfaced._value.get()
    for retry in range(1, 6):
        clock(api).fixed = requested + dt.timedelta(seconds=11 * retry)
        entry = wait_for(lambda r=retry: (e := ledger_of(api, agency, referral_id))["retries"] == r and e, 15,
                         f"retry {retry}")
        assert entry["surfaced"] is (retry == 5)
    # The clock stays: more passes send nothing more, and the surfacing was counted once.
    passes = clock(api).ledger_passes
    wait_for(lambda: clock(api).ledger_passes >= passes + 3, 10, "three more passes")
    attempts = [json.loads(row.body)["data"] for row in outbox_events(pg_databases["intake"], SEALING_REQUESTED,
                                                                         referral_id)]
    assert [a["attempt"] for a in attempts] == [1, 2, 3, 4, 5, 6]
    assert {a["request_id"] for a in attempts} == {request_id}
    # Other tests' entries share the database (and the counter): this entry surfaced once, in one log line.
    assert surfaced._value.get() >= before + 1
    lines = [r for r in caplog.records if request_id in r.getMessage() and "surfaced" in r.getMessage()]
    assert [r.levelname for r in lines] == ["WARNING"]
    assert entry["state"] == "surfaced"
    assert [e["request_id"] for e in ledger(api, agency, state="surfaced").json()["items"]] == [request_id]
    assert ledger(api, agency, state="pending").json()["items"] == []

    publish_as("notifications", NotificationsSealingConfirmed(
        request_id=request_id, referral_id=referral_id, service="notifications", confirmed_at=requested +
        dt.timedelta(seconds=60)), subject=referral_id, agency=agency)
    entry = wait_for(lambda: (e := ledger_of(api, agency, referral_id))["state"] == "complete" and e, 15, "complete")
    assert entry["missing"] == [] and entry["surfaced"] is False and entry["elapsed_seconds"] == 60.0
    assert [e["request_id"] for e in ledger(api, agency, state="complete").json()["items"]] == [request_id]


def test_the_ledger_api_is_for_records_roles_of_the_agency_only(api, agency, pg_databases):
    referral_id, _, entry = _sealed(api, agency, pg_databases)
    path = f"/v1/sealing-ledger/{entry['request_id']}"
    for role in ("records_officer", "supervisor", "admin", "auditor"):
        response = api.get(path, token=make_token(agency, (role,)))
        assert response.status_code == 200, (role, response.text)
        assert response.json()["referral_id"] == referral_id
    for role in ("screener", "case_manager"):
        assert api.get(path, token=make_token(agency, (role,))).status_code == 403
        assert ledger(api, agency, role=role).status_code == 403
    other = "t-" + uuid.uuid4().hex[:10]
    assert api.get(path, token=make_token(other, ("records_officer",))).status_code == 404
    assert ledger(api, other).json()["items"] == []
    assert api.get("/v1/sealing-ledger/nope", token=make_token(agency, ("auditor",))).status_code == 404
    assert ledger(api, agency, state="sealed").status_code == 422
    body = api.get(path, token=make_token(agency, ("auditor",))).json()
    assert "defendant" not in body and "Brooks" not in json.dumps(body)


def test_a_sealed_referral_is_absent_for_ordinary_roles_and_opened_only_with_a_legal_basis(api, agency,
                                                                                          pg_databases):
    referral_id, case_id, _ = _sealed(api, agency, pg_databases)
    visible = submit(api, agency)
    nonexistent = read(api, agency, str(uuid.uuid4()), role="screener")
    for role in ("screener", "supervisor", "auditor"):
        response = read(api, agency, referral_id, role=role)
        assert response.status_code == 404, role
        assert {k: response.json()[k] for k in ("type", "title", "status", "detail")} == {
            k: nonexistent.json()[k] for k in ("type", "title", "status", "detail")}
        listed = api.get("/v1/referrals", token=make_token(agency, (role,))).json()["items"]
        assert visible["id"] in [i["id"] for i in listed] and referral_id not in [i["id"] for i in listed]
        searched = api.get("/v1/referrals", token=make_token(agency, (role,)),
                           params={"status": "disposed"}).json()["items"]
        assert searched == []
    for role in ("admin", "supervisor"):
        export = api.get("/v1/exports/referrals", token=make_token(agency, (role,)))
        assert export.status_code == 200
        assert visible["id"] in export.text and referral_id not in export.text
    # The aggregate report still counts it.
    report = api.get("/v1/reports/screening", token=make_token(agency, ("supervisor",))).json()
    assert report["referrals"] == 2

    officer = read(api, agency, referral_id, role="records_officer", basis="court-order")
    assert officer.status_code == 200, officer.text
    assert officer.json()["disposition"] == "dismissal"
    for basis in (None, "because-i-want-to"):
        refused = read(api, agency, referral_id, role="records_officer", basis=basis)
        assert refused.status_code == 400, refused.text
    assert read(api, agency, visible["id"], role="records_officer").status_code == 200  # not sealed: no basis
    listed = api.get("/v1/referrals", token=make_token(agency, ("records_officer",)),
                     headers={"X-Legal-Basis": "court-order"}).json()["items"]
    assert referral_id in [i["id"] for i in listed]
    engine = create_engine(pg_databases["intake"])
    with engine.connect() as connection:
        opened = connection.execute(select(AuditEvent.c.detail).where(
            AuditEvent.c.action == "sealed_record.opened", AuditEvent.c.resource_id == referral_id)).scalars().all()
    engine.dispose()
    assert [json.loads(d) if isinstance(d, str) else d for d in opened] == [{"legal_basis": "court-order"}] * 2

    # The final action stays readable for staff.
    for role in ("screener", "case_manager", "records_officer"):
        response = api.get(f"/v1/referrals/{referral_id}/disposition", token=make_token(agency, (role,)))
        assert response.status_code == 200, response.text
        assert response.json() == {"referral_id": referral_id, "status": "disposed", "disposition": "dismissal",
                                   "disposed_at": response.json()["disposed_at"], "case_id": case_id}
    assert api.get(f"/v1/referrals/{uuid.uuid4()}/disposition",
                   token=make_token(agency, ("screener",))).status_code == 404
