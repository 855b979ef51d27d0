# ruff: noqa: F811 - the `resources` fixture is imported from resources_support and requested by name
"""Erasure in resources (issue 16 item 4, ADR 0083): intake's record.erasure_requested over the real broker
deletes exactly the case's rows (referrals, their history, the caseload row, the stored creation replies,
their marks and the sent outbox rows about them), keeps keyed tombstones and confirms every delivery; an old
case.opened / case.assigned of the erased case then creates nothing, nor does a new referral of it."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime

from resources_support import Harness, resources, wait_for  # noqa: F401 - fixture
from test_resources_caseload import assigned, opened
from test_resources_referrals import ST_PATRICK, cm, move, refer, referral_body
from test_resources_sealing import confirmations, consumed, sealing_request

from shared.messaging.catalog import RecordErasureRequested
from shared.messaging.envelope import CloudEvent, new_event
from shared.messaging.signing import signing_key
from shared.records import digests, tombstone_key
from shared.sealing import tombstone
from tests.conftest import make_token
from tests.support.publishing import publish


def erasure_request(agency: str, case_id: str, request_id: str, referral_id: str,
                    attempt: int = 1) -> CloudEvent[RecordErasureRequested]:
    return new_event(RecordErasureRequested(
        request_id=request_id, referral_id=referral_id, case_id=case_id, requested_at=datetime.now(UTC),
        attempt=attempt, basis="court-order"), subject=referral_id, tenantid=agency)


def held(h: Harness, agency: str, case_id: str, referral_ids: list[str]) -> dict[str, int]:
    """What resources holds about one case, per table."""
    ids = {"i": tuple(referral_ids)}

    def count(statement: str, **params: object) -> int:
        return int(h.sql(statement, **params)[0][0])

    return {
        "service_referral": count("SELECT count(*) FROM service_referral WHERE agency_id = :a AND case_id = :c",
                                  a=agency, c=case_id),
        "service_referral_history": count(
            "SELECT count(*) FROM service_referral_history WHERE service_referral_id IN :i", **ids),
        "caseload_entry": count("SELECT count(*) FROM caseload_entry WHERE agency_id = :a AND case_id = :c",
                                a=agency, c=case_id),
        "idempotency_key": count("SELECT count(*) FROM idempotency_key WHERE agency_id = :a AND "
                                 "response->>'id' IN :i", a=agency, **ids),
        "outbox": count("SELECT count(*) FROM outbox WHERE subject IN :i OR "
                        + " OR ".join(f"body LIKE '%{i}%'" for i in referral_ids)
                        + " OR subject = :c", c=case_id, **ids),
        "record_mark": count("SELECT count(*) FROM record_mark WHERE agency_id = :a AND record_id IN :r",
                             a=agency, r=(*referral_ids, case_id)),
    }


def test_erasure_deletes_exactly_the_case_keeps_tombstones_and_refuses_old_events(resources, agency, caplog):
    api = resources.start()
    created = refer(resources, api, agency)
    erased, tag = created.json(), created.headers["ETag"]
    kept = refer(resources, api, agency).json()
    partner = make_token(agency, ("partner",), org=ST_PATRICK, sub="partner-1")
    assert move(api, partner, erased, tag, "received").status_code == 200  # a second history row
    assert api.get(f"/v1/service-referrals/{erased['id']}", token=partner).status_code == 200  # a disclosure
    (case_id, participant), = resources.sql("SELECT case_id, participant_id FROM service_referral WHERE id = :i",
                                            i=erased["id"])
    (kept_case,), = resources.sql("SELECT case_id FROM service_referral WHERE id = :i", i=kept["id"])
    referral_id, request_id = f"ref-{uuid.uuid4().hex[:8]}", f"erase-{uuid.uuid4().hex[:8]}"
    sealed = sealing_request(agency, case_id, f"seal-{uuid.uuid4().hex[:8]}", referral_id=referral_id)
    publish(sealed)  # sealed first: the erasure drops the marks too
    wait_for(lambda: consumed(resources, sealed), what="sealed first")
    wait_for(lambda: not resources.sql("SELECT 1 FROM outbox WHERE sent_at IS NULL AND (subject IN (:i, :p))",
                                       i=erased["id"], p=participant), what="the relay sent the case's events")
    before = held(resources, agency, case_id, [erased["id"]])
    other_before = held(resources, agency, kept_case, [kept["id"]])
    assert before == {"service_referral": 1, "service_referral_history": 2, "caseload_entry": 1,
                      "idempotency_key": 1, "outbox": before["outbox"], "record_mark": 2}
    assert before["outbox"] >= 4  # requested, its disclosure, status_changed, the partner read's disclosure
    assert {k: v for k, v in other_before.items() if k != "outbox"} == {
        "service_referral": 1, "service_referral_history": 1, "caseload_entry": 1, "idempotency_key": 1,
        "record_mark": 0}
    assert other_before["outbox"] >= 2

    first = erasure_request(agency, case_id, request_id, referral_id)
    publish(first, first)
    wait_for(lambda: consumed(resources, first), what="record.erasure_requested consumed")
    retry = erasure_request(agency, case_id, request_id, referral_id, attempt=2)
    publish(retry)
    wait_for(lambda: len(confirmations(resources, "erasure", referral_id)) == 2, what="two confirmations")

    assert held(resources, agency, case_id, [erased["id"]]) == dict.fromkeys(before, 0)
    assert held(resources, agency, kept_case, [kept["id"]]) == other_before  # another case untouched
    answer, again = confirmations(resources, "erasure", referral_id)
    assert answer["counts"] == {**{k: before[k] for k in before}, "tombstone": 3}
    assert again["counts"] == dict.fromkeys(answer["counts"], 0)
    assert participant not in json.dumps(answer) and case_id not in json.dumps(answer)
    key = tombstone_key(signing_key(api.settings.common))  # type: ignore[attr-defined]
    stones = digests(key, agency, referral=referral_id, case=case_id) + [
        tombstone(key, agency, "service_referral", erased["id"])]
    assert len(resources.sql("SELECT digest FROM tombstone WHERE digest IN :d", d=tuple(stones))) == 3
    assert api.get(f"/v1/service-referrals/{erased['id']}", token=cm(agency)).status_code == 404

    # an old case.opened / case.assigned of the erased case creates nothing; another case's still does
    caplog.set_level(logging.WARNING)
    fresh_case = f"case-{uuid.uuid4().hex[:8]}"
    old_opened = opened(agency, case_id, participant)
    old_assigned = assigned(agency, case_id, "cm-z", datetime.now(UTC))
    control = opened(agency, fresh_case, f"p-{uuid.uuid4().hex[:8]}")
    publish(old_opened, old_assigned, control)
    wait_for(lambda: consumed(resources, old_opened, old_assigned, control), what="the old events consumed")
    assert resources.sql("SELECT count(*) FROM caseload_entry WHERE agency_id = :a AND case_id = :c",
                         a=agency, c=case_id)[0][0] == 0
    assert resources.sql("SELECT count(*) FROM caseload_entry WHERE agency_id = :a AND case_id = :c",
                         a=agency, c=fresh_case)[0][0] == 1
    warned = [r.getMessage() for r in caplog.records if "erased case" in r.getMessage()]
    assert {old_opened.id, old_assigned.id} <= {word for line in warned for word in line.split()}
    assert not any(participant in line for line in warned)

    # a restored caseload row does not let a new referral of the erased case through: as an unknown case
    resources.caseload(agency, case_id, participant, "cm-assigned")
    resources.ledger.grant(agency, participant, ST_PATRICK)
    refused = api.post("/v1/service-referrals", token=cm(agency), headers={"Idempotency-Key": uuid.uuid4().hex},
                       json=referral_body(participant_id=participant, case_id=case_id))
    assert refused.status_code == 422, refused.text
    assert refused.json()["type"].endswith("/case-participant-mismatch")
    assert resources.sql("SELECT count(*) FROM service_referral WHERE agency_id = :a AND case_id = :c",
                         a=agency, c=case_id)[0][0] == 0
