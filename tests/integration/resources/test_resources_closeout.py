# ruff: noqa: F811 - the `resources` fixture is imported from resources_support and requested by name
"""Close-out (issue 16) in resources: casework's case.terminated (or completed, withdrawn) over the real broker
cancels the case's open service referrals once, with `case_closed`, and tells the partner; a final one stays."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from resources_support import resources, wait_for  # noqa: F401 - fixture
from test_resources_referrals import ST_PATRICK, referral_body

from shared.messaging.catalog import CaseTerminated
from shared.messaging.envelope import new_event
from tests.conftest import make_token
from tests.support.publishing import publish


def test_a_closed_case_cancels_its_open_referrals_once_and_the_partner_hears_only_that(resources, agency):
    api = resources.start()
    body = referral_body()
    case_id = body["case_id"]
    resources.caseload(agency, case_id, body["participant_id"], "cm-a")
    resources.ledger.grant(agency, body["participant_id"], ST_PATRICK)
    manager = make_token(agency, ("case_manager",), sub="cm-a")

    def create() -> dict:
        made = api.post("/v1/service-referrals", token=manager, json=body,
                        headers={"Idempotency-Key": uuid.uuid4().hex})
        assert made.status_code == 201, made.text
        return {**made.json(), "etag": made.headers["ETag"]}

    open_one, already_final = create(), create()
    withdrawn = api.request("PATCH", f"/v1/service-referrals/{already_final['id']}", token=manager,
                            headers={"If-Match": already_final["etag"]},
                            json={"status": "cancelled", "reason_code": "need_met_elsewhere"})
    assert withdrawn.status_code == 200, withdrawn.text
    ended = new_event(CaseTerminated(case_id=case_id, referral_id="ref-1", reason="non_compliance",
                                     detail="moved away", terminated_at=datetime.now(UTC)),
                      subject=case_id, tenantid=agency)
    publish(ended, ended)  # delivered twice: closed once
    wait_for(lambda: resources.sql("SELECT count(*) FROM inbox WHERE event_id = :e", e=ended.id)[0][0] == 1,
             what="case.terminated consumed")

    def status(ref: dict) -> tuple[str, str | None]:
        got = api.get(f"/v1/service-referrals/{ref['id']}", token=manager).json()
        return got["status"], got.get("reason_code")

    wait_for(lambda: status(open_one) == ("cancelled", "case_closed"), what="the open referral closed")
    assert status(already_final) == ("cancelled", "need_met_elsewhere")
    history = resources.sql("SELECT service_referral_id, to_status, reason_code, changed_by FROM "
                            "service_referral_history WHERE to_status = 'cancelled' ORDER BY id")
    assert [(r[0], r[2], r[3]) for r in history] == [(already_final["id"], "need_met_elsewhere", "cm-a"),
                                                     (open_one["id"], "case_closed", "resources")]
    told = [json.loads(r[0]) if isinstance(r[0], str) else r[0] for r in resources.sql(
        "SELECT body FROM outbox WHERE event_type LIKE '%service_referral.status_changed' AND subject = :s",
        s=open_one["id"])]
    assert len(told) == 1
    assert (told[0]["data"]["status"], told[0]["data"]["reason_code"], told[0]["data"]["note"]) == (
        "cancelled", "case_closed", None)
