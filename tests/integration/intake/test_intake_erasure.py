"""Erasing a referral on a legal order against PostgreSQL and the broker (ADR 0083): every row about it is
deleted, keyed tombstones stay, the request is published, and casework's old events recreate nothing."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from intake_api_support import publish_as_casework, referral_body, submit
from intake_sealing_support import (
    ERASURE_REQUESTED,
    accepted_case,
    complete,
    handled,
    ledger_of,
    outbox_events,
    read,
    start_intake,
)
from sqlalchemy import create_engine, func, select

from services.intake.models import RECORDS, IdempotencyKey, ReferralRow, SealingLedgerRow
from services.intake.usecases.erasure import referral_children
from shared.messaging.catalog import CaseOpened, CaseWithdrawn
from shared.messaging.tables import TABLES
from tests.conftest import make_token
from tests.support.waiting import wait_for


@pytest.fixture
def api(start_service, agency, tmp_path):
    return start_intake(start_service, agency, tmp_path)


def erase(api, agency, referral_id, role="records_officer", basis="court-order", **kwargs):
    headers = {"X-Legal-Basis": basis} if basis else {}
    headers.update(kwargs.pop("headers", {}))
    kwargs.setdefault("json", {})  # the order reference is optional; the body is a JSON object
    return api.post(f"/v1/referrals/{referral_id}/erasure", token=make_token(agency, (role,), sub="ro-1"),
                    headers=headers, **kwargs)


def rows_about(database_url, referral_id, key):
    """Rows per table about the referral (every child table, the referral, its sent outbox rows, its
    idempotency row), plus the tombstones."""
    engine = create_engine(database_url)
    counts = {}
    try:
        with engine.connect() as connection:
            for name, column in referral_children():
                counts[name] = connection.scalar(select(func.count()).select_from(column.table)
                                                 .where(column == referral_id))
            counts["referral"] = connection.scalar(select(func.count()).select_from(ReferralRow.__table__)
                                                   .where(ReferralRow.id == referral_id))
            outbox = TABLES.outbox
            counts["outbox"] = connection.scalar(select(func.count()).select_from(outbox).where(
                outbox.c.subject == referral_id, outbox.c.event_type != ERASURE_REQUESTED))
            counts["idempotency_key"] = connection.scalar(select(func.count()).select_from(IdempotencyKey).where(
                IdempotencyKey.c.key == key))
            counts["tombstone"] = connection.scalar(select(func.count()).select_from(RECORDS.tombstones))
    finally:
        engine.dispose()
    return counts


def all_sent(database_url, referral_id):
    return all(row.sent_at is not None for row in _outbox(database_url, referral_id))


def _outbox(database_url, referral_id):
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return connection.execute(select(TABLES.outbox.c.sent_at).where(
                TABLES.outbox.c.subject == referral_id)).all()
    finally:
        engine.dispose()


def test_erasure_deletes_every_row_keeps_tombstones_and_publishes_the_request(api, agency, pg_databases):
    key = f"erase-{uuid.uuid4().hex[:8]}"
    referral_id, case_id = accepted_case(api, agency, headers={"Idempotency-Key": key})
    keep = submit(api, agency, referral_body(first_name="Ana", last_name="Diaz", dob="2002-02-02"))
    wait_for(lambda: all_sent(pg_databases["intake"], referral_id), 15, "the referral's events sent")
    before = rows_about(pg_databases["intake"], referral_id, key)
    assert all(before[name] >= 1 for name in ("referral", "defendant", "charge", "criminal_history", "screening",
                                              "decision", "outbox", "idempotency_key")), before

    assert erase(api, agency, referral_id, role="supervisor").status_code == 403
    refused = erase(api, agency, referral_id, basis=None)
    assert refused.status_code == 400, refused.text
    assert erase(api, agency, referral_id, basis="not-a-code").status_code == 400
    assert erase(api, agency, referral_id, json={"order_reference": "x" * 201}).status_code == 422
    response = erase(api, agency, referral_id, json={"order_reference": "2026-CV-0042"},
                     headers={"Idempotency-Key": "erase-1"})
    assert response.status_code == 202, response.text
    entry = response.json()
    assert (entry["kind"], entry["referral_id"], entry["case_id"], entry["basis"]) == (
        "erasure", referral_id, case_id, "court-order")
    assert entry["services"]["intake"] is not None and entry["missing"] == ["casework", "resources", "notifications"]
    replayed = erase(api, agency, referral_id, json={"order_reference": "2026-CV-0042"},
                     headers={"Idempotency-Key": "erase-1"})
    assert replayed.status_code == 202 and replayed.json()["request_id"] == entry["request_id"]

    after = rows_about(pg_databases["intake"], referral_id, key)
    assert {name: n for name, n in after.items() if name != "tombstone"} == {name: 0 for name in after
                                                                            if name != "tombstone"}
    assert after["tombstone"] == before["tombstone"] + 2  # the referral's and the case's
    assert read(api, agency, keep["id"]).status_code == 200  # another referral is untouched
    assert read(api, agency, referral_id).status_code == 404
    [sent] = outbox_events(pg_databases["intake"], ERASURE_REQUESTED, referral_id)
    data = json.loads(sent.body)["data"]
    assert (data["request_id"], data["case_id"], data["basis"], data["attempt"]) == (
        entry["request_id"], case_id, "court-order", 1)
    assert "Brooks" not in sent.body and "2026-CV-0042" not in sent.body
    assert ledger_of(api, agency, referral_id, kind="erasure")["request_id"] == entry["request_id"]
    audit = api.get("/v1/audit", token=make_token(agency, ("auditor",)),
                    params={"action": "referral.erased"}).json()["items"]
    assert [a["detail"] for a in audit] == [{"legal_basis": "court-order", "request_id": entry["request_id"]}]

    again = erase(api, agency, referral_id)
    assert again.status_code == 409 and again.json()["type"].endswith("/already-erased")
    assert erase(api, agency, str(uuid.uuid4())).status_code == 404


def test_casework_events_about_an_erased_referral_recreate_nothing(api, agency, pg_databases):
    referral_id, case_id = accepted_case(api, agency)
    assert erase(api, agency, referral_id).status_code == 202
    now = dt.datetime.now(dt.UTC)
    events = [
        publish_as_casework(CaseOpened(case_id=case_id, referral_id=referral_id, program="young-adult",
                                       opened_at=now), subject=case_id, agency=agency),
        complete(referral_id, case_id, agency),
        publish_as_casework(CaseWithdrawn(case_id=case_id, referral_id=referral_id, withdrawn_at=now, reason="x"),
                            subject=case_id, agency=agency),
    ]
    for event_id in events:
        wait_for(lambda e=event_id: handled(pg_databases["intake"], e), 15, "the old event acked")
    engine = create_engine(pg_databases["intake"])
    with engine.connect() as connection:
        referrals = connection.scalar(select(func.count()).select_from(ReferralRow.__table__)
                                      .where(ReferralRow.id == referral_id))
        kinds = connection.execute(select(SealingLedgerRow.kind).where(
            SealingLedgerRow.referral_id == referral_id)).scalars().all()
        outbox = connection.execute(select(TABLES.outbox.c.event_type).where(
            TABLES.outbox.c.subject == referral_id)).scalars().all()
    engine.dispose()
    assert referrals == 0
    assert kinds == ["erasure"]  # the dismissal sealed nothing: there is nothing left to seal
    assert outbox == [ERASURE_REQUESTED]
