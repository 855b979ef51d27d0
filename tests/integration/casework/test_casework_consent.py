"""The consent ledger: 42 CFR 2.31 consents over HTTP, 2.35 deferred revocation, and the `consent_covers` RPC
resources calls before any disclosure (missing, expired, revoked or too narrow: not covered)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.casework.models import DisclosureLog
from shared.audit import _writer_table as audit_rows
from tests.conftest import AMQP_URI
from tests.support.signed import rpc_call

ORG = "org-housing-1"
TODAY = date.today()


def consent_body(**changes):
    body = {
        "kind": "standard",
        "discloser": "Circuit Attorney's Office Diversion Unit",
        "categories": ["contact_info", "needs_assessment"],
        "recipient_org_id": ORG,
        "recipient_name": "Housing Partner",
        "purposes": ["service_referral"],
        "right_to_revoke_acknowledged": True,
        "revocation_instructions": "Tell your case manager in writing.",
        "expires_on": (TODAY + timedelta(days=180)).isoformat(),
        "signature": {"signed_by": "Jordan Doe", "method": "electronic", "signed_on": TODAY.isoformat()},
    }
    body.update(changes)
    return body


@pytest.fixture
def participant(tenant):
    tenant.add_staff("cm-1")
    case_id = tenant.open_case()
    return case_id, tenant.case_row(case_id).participant_id


@pytest.fixture
def check(tenant):
    def covers(participant_id, *, categories=("contact_info",), purpose="service_referral", on=TODAY,
               recipient=ORG, agency=tenant.slug):
        context = {"sub": "resources-cm", "roles": ["case_manager"]}
        if agency:
            context["agency"] = agency
        return rpc_call(AMQP_URI, "casework", "consent_covers",
                        [participant_id, recipient, list(categories), purpose, on.isoformat()], context)
    return covers


def add_consent(tenant, participant_id, **changes):
    response = tenant.api.post(f"/v1/participants/{participant_id}/consents", token=tenant.manager_token(),
                               json=consent_body(**changes))
    assert response.status_code == 201, response.text
    return response


def test_a_valid_consent_covers_the_disclosure_with_the_notice_and_the_disclosure_is_logged(tenant, participant,
                                                                                           check, engine):
    _, person = participant
    consent = add_consent(tenant, person).json()
    assert consent["missing_elements"] == [] and consent["participant_name"] == "Jordan Doe"
    answer = check(person, categories=["contact_info", "needs_assessment"])
    assert answer["covered"] is True
    assert answer["consent_id"] == consent["id"]
    assert "42 CFR part 2" in answer["notice"]
    with Session(engine) as session:
        logged = session.scalars(select(DisclosureLog).where(DisclosureLog.participant_id == person)).all()
    assert [(row.consent_id, row.recipient_org_id, row.disclosed_by) for row in logged] == [
        (consent["id"], ORG, "resources-cm")]
    with Session(engine) as session:
        audited = session.execute(select(audit_rows).where(audit_rows.c.action == "consent.checked",
                                                           audit_rows.c.resource_id == person)).mappings().all()
    assert [(row["agency_id"], row["actor"], row["actor_roles"], row["outcome"], row["detail"]["actor"])
            for row in audited] == [(tenant.slug, "resources-cm", "case_manager", "success", "resources-cm")]


def test_no_consent_is_not_covered(participant, check):
    _, person = participant
    answer = check(person)
    assert answer == {"covered": False, "consent_id": None, "notice": "",
                      "reason": f"no consent on record for participant {person}"}


def test_an_expired_consent_is_not_covered(tenant, participant, check):
    _, person = participant
    add_consent(tenant, person, expires_on=(TODAY + timedelta(days=10)).isoformat())
    assert check(person)["covered"] is True
    later = check(person, on=TODAY + timedelta(days=11))
    assert later["covered"] is False and "expired" in later["reason"]


def test_a_revoked_consent_is_not_covered(tenant, participant, check):
    _, person = participant
    consent = add_consent(tenant, person)
    revoke = tenant.api.post(f"/v1/participants/{person}/consents/{consent.json()['id']}/revocation",
                             token=tenant.manager_token(), json={"method": "written"},
                             headers={"If-Match": consent.headers["ETag"]})
    assert revoke.status_code == 200, revoke.text
    assert revoke.json()["revoked_on"] == TODAY.isoformat()
    answer = check(person)
    assert answer["covered"] is False and "revoked" in answer["reason"]


@pytest.mark.parametrize(("ask", "why"), [
    ({"categories": ["substance_use_treatment"]}, "does not cover: substance_use_treatment"),
    ({"purpose": "care_coordination"}, "does not cover the purpose care_coordination"),
    ({"recipient": "org-other"}, "no consent names recipient org-other"),
])
def test_a_consent_too_narrow_for_the_disclosure_is_not_covered(tenant, participant, check, ask, why):
    _, person = participant
    add_consent(tenant, person)
    answer = check(person, **ask)
    assert answer["covered"] is False
    assert why in answer["reason"]


def test_a_check_without_an_agency_in_the_context_is_refused(tenant, participant, check):
    _, person = participant
    add_consent(tenant, person)
    answer = check(person, agency=None)
    assert answer["covered"] is False and "no agency" in answer["reason"]
    assert check(person, agency="other-agency")["covered"] is False  # another tenant's participant


def test_an_unsigned_consent_is_a_draft_that_covers_nothing(tenant, participant, check):
    _, person = participant
    draft = add_consent(tenant, person, signature=None).json()
    assert draft["missing_elements"] == ["signature"]
    assert "not signed" in check(person)["reason"]


def test_a_criminal_justice_consent_cannot_be_revoked_before_disposition(tenant, participant, check):
    case_id, person = participant
    consent = add_consent(tenant, person, kind="criminal_justice", purposes=["progress_monitoring"],
                          right_to_revoke_acknowledged=False, expires_on=None, expiry_event="final_disposition",
                          revocable_upon="final_disposition", categories=["attendance", "plan_goals"])
    assert consent.json()["revocable_from"] == "final disposition"
    path = f"/v1/participants/{person}/consents/{consent.json()['id']}/revocation"
    early = tenant.api.post(path, token=tenant.manager_token(), json={"method": "oral"},
                            headers={"If-Match": consent.headers["ETag"]})
    assert early.status_code == 409
    assert early.json()["type"].endswith("/revocation-deferred")
    assert early.json()["revocable_from"] == "final disposition" and early.json()["title"] == "Conflict"
    assert check(person, categories=["attendance"], purpose="progress_monitoring")["covered"] is True

    assert tenant.transition(case_id, {"action": "complete", "override_reason": "done early"}).status_code == 200
    after = tenant.api.post(path, token=tenant.manager_token(), json={"method": "oral"},
                            headers={"If-Match": consent.headers["ETag"]})
    assert after.status_code == 200, after.text
    assert check(person, categories=["attendance"], purpose="progress_monitoring")["covered"] is False


def test_a_consent_missing_2_31_elements_or_mixing_2_35_terms_is_rejected(tenant, participant):
    _, person = participant
    wrong = tenant.api.post(f"/v1/participants/{person}/consents", token=tenant.manager_token(),
                            json=consent_body(revocable_upon="final_disposition"))
    assert wrong.status_code == 422
    empty = tenant.api.post(f"/v1/participants/{person}/consents", token=tenant.manager_token(),
                            json=consent_body(categories=[]))
    assert empty.status_code == 422 and empty.json()["errors"][0]["field"] == "categories"
    listed = tenant.api.get(f"/v1/participants/{person}/consents", token=tenant.auditor)
    assert listed.status_code == 200 and listed.json() == []
