"""One person across cases and the accounting of disclosures (ADR 0071), over the real broker and PostgreSQL:
a person intake matched is linked, the first case's consent covers the second, staff link and unlink (audited),
and GET /v1/participants/{id}/disclosures lists both cases' disclosures and the withheld ones, as JSON or CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.casework.models import CaseRecord
from shared.audit import _writer_table as audit_rows
from shared.messaging.catalog import NotificationsDisclosureRecorded, ResourcesDisclosureRecorded
from shared.messaging.envelope import new_event
from tests.conftest import AMQP_URI, make_token
from tests.integration.casework.conftest import referral, wait_for
from tests.integration.casework.test_casework_consent import ORG, consent_body
from tests.support.publishing import publish
from tests.support.signed import rpc_call

NOW = datetime.now(UTC)


def accepted(agency: str, *, same_person: list[str] | None = None):
    event = referral(agency)
    data = event.data.model_copy(update={"same_person_referral_ids": same_person or []})
    return new_event(data, subject=data.referral_id, tenantid=agency)


def case_of(engine, agency: str, referral_id: str) -> CaseRecord | None:
    with Session(engine, expire_on_commit=False) as session:
        return session.scalar(select(CaseRecord).where(CaseRecord.agency_id == agency,
                                                       CaseRecord.referral_id == referral_id))


def open_via_broker(intake, engine, agency: str, **kwargs) -> CaseRecord:
    event = accepted(agency, **kwargs)
    intake.publish(event)
    return wait_for(lambda: case_of(engine, agency, event.data.referral_id), what="case opened from the event")


def covers(agency: str, participant_id: str, *, case_id: str | None = None, channel: str | None = None):
    return rpc_call(AMQP_URI, "casework", "consent_covers",
                    [participant_id, ORG, ["contact_info"], "service_referral", NOW.date().isoformat(), case_id,
                     channel], {"sub": "cm-1", "roles": ["case_manager"], "agency": agency})


def audited(engine, agency: str, action: str) -> list:
    with Session(engine) as session:
        return list(session.execute(select(audit_rows).where(audit_rows.c.agency_id == agency,
                                                             audit_rows.c.action == action)).mappings())


def disclosure(agency: str, *, participant_id: str | None, case_id: str | None, referral_id: str, channel: str,
               outcome: str = "disclosed", reason: str | None = None, notifications: bool = False,
               at: datetime = NOW):
    model = NotificationsDisclosureRecorded if notifications else ResourcesDisclosureRecorded
    data = model(participant_id=participant_id, case_id=case_id, service_referral_id=referral_id,
                 recipient_org_id=ORG, recipient_name="=Housing Partner", channel=channel,
                 categories=[] if notifications else ["contact_info"], purpose="service_referral",
                 consent_id=None if notifications else "c-1", outcome=outcome,
                 reason=reason, occurred_at=at)
    return new_event(data, subject=participant_id or referral_id, tenantid=agency)


def test_a_person_referred_again_is_one_person_consents_carry_over_and_disclosures_are_accounted(
        tenant, intake, engine):
    tenant.add_staff("cm-1")
    first = open_via_broker(intake, engine, tenant.slug)
    consent = tenant.api.post(f"/v1/participants/{first.participant_id}/consents", token=tenant.manager_token(),
                              json=consent_body())
    assert consent.status_code == 201, consent.text
    second = open_via_broker(intake, engine, tenant.slug, same_person=[first.referral_id])
    assert second.participant_id != first.participant_id  # its own record, linked to the first

    person = tenant.api.get(f"/v1/participants/{second.participant_id}", token=tenant.supervisor).json()
    assert person["person_id"] == first.participant_id
    links = tenant.api.get(f"/v1/participants/{second.participant_id}/links", token=tenant.supervisor).json()
    assert links["participant_ids"] == [second.participant_id, first.participant_id]
    assert [(r["participant_id"], r["source"], r["linked_by"]) for r in links["links"]] == [
        (second.participant_id, "duplicate_detection", "service:casework")]
    assert [r["resource_id"] for r in audited(engine, tenant.slug, "participant.linked")] == [second.participant_id]

    # the first case's valid consent covers the second case, and is listed with it
    listed = tenant.api.get(f"/v1/participants/{second.participant_id}/consents", token=tenant.manager_token())
    assert [c["id"] for c in listed.json()] == [consent.json()["id"]]
    answer = covers(tenant.slug, second.participant_id)
    assert answer["covered"] is True and answer["consent_id"] == consent.json()["id"]
    # a refused check for a service referral is a withheld disclosure
    refused = rpc_call(AMQP_URI, "casework", "consent_covers",
                       [second.participant_id, "org-elsewhere", ["contact_info"], "service_referral",
                        NOW.date().isoformat(), second.id, "service_referral"],
                       {"sub": "cm-1", "roles": ["case_manager"], "agency": tenant.slug})
    assert refused["covered"] is False

    # disclosures of both cases, a delivery withheld (notifications knows only the referral), a partner read
    publish(disclosure(tenant.slug, participant_id=first.participant_id, case_id=first.id, referral_id="sr-1",
                       channel="service_referral", at=NOW - timedelta(minutes=3)),
            disclosure(tenant.slug, participant_id=second.participant_id, case_id=second.id, referral_id="sr-2",
                       channel="service_referral", at=NOW - timedelta(minutes=2)),
            disclosure(tenant.slug, participant_id=None, case_id=None, referral_id="sr-1", channel="webhook",
                       outcome="withheld", reason="consent revoked", notifications=True,
                       at=NOW - timedelta(minutes=1)),
            disclosure(tenant.slug, participant_id=second.participant_id, case_id=second.id, referral_id="sr-2",
                       channel="partner_read"),
            disclosure(f"{tenant.slug}-x", participant_id=None, case_id=None, referral_id="sr-1", channel="webhook"))
    path = f"/v1/participants/{second.participant_id}/disclosures"

    def entries():
        items = tenant.api.get(path, token=tenant.manager_token(), params={"limit": 2})
        assert items.status_code == 200, items.text
        out = items.json()["items"]
        cursor = items.json()["next_cursor"]
        while cursor:
            more = tenant.api.get(path, token=tenant.manager_token(), params={"limit": 2, "cursor": cursor}).json()
            out += more["items"]
            cursor = more["next_cursor"]
        return out if len(out) >= 5 else None

    items = wait_for(entries, what="the disclosures consumed")
    assert len(items) == 5
    by = {(i["channel"], i["outcome"], i["source"], i["case_id"]) for i in items}
    assert by == {("service_referral", "disclosed", "resources", first.id),
                  ("service_referral", "disclosed", "resources", second.id),
                  ("webhook", "withheld", "notifications", first.id),  # joined through its referral
                  ("partner_read", "disclosed", "resources", second.id),
                  ("service_referral", "withheld", "casework", second.id)}
    [webhook] = [i for i in items if i["channel"] == "webhook"]
    assert (webhook["participant_id"], webhook["categories"], webhook["consent_id"],
            webhook["service_referral_id"]) == (first.participant_id, ["contact_info"], "c-1", "sr-1")
    withheld = [i for i in items if i["outcome"] == "withheld"]
    assert {i["reason"] for i in withheld} >= {"consent revoked"} and all(i["reason"] for i in withheld)
    assert [i["occurred_at"] for i in items] == sorted((i["occurred_at"] for i in items), reverse=True)

    # the participant's copy: CSV by query or Accept, formula-safe, every entry
    for response in (tenant.api.get(path, token=tenant.supervisor, params={"format": "csv"}),
                     tenant.api.get(path, token=tenant.supervisor, headers={"Accept": "text/csv"})):
        assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(response.text)))
        assert len(rows) == 5
        assert {r["recipient_name"] for r in rows if r["source"] != "casework"} == {"'=Housing Partner"}
        assert {r["outcome"] for r in rows} == {"disclosed", "withheld"}
    reads = audited(engine, tenant.slug, "disclosure.read")
    assert {r["resource_type"] for r in reads} == {"participant"}
    assert {r["resource_id"] for r in reads} == {second.participant_id}
    assert {r["detail"]["format"] for r in reads} == {"json", "csv"}

    # another agency: 404; a case manager not on the case: 403
    assert tenant.api.get(path, token=make_token(f"{tenant.slug}-x", ("supervisor",))).status_code == 404
    tenant.add_staff("cm-2")
    assert tenant.api.get(path, token=tenant.manager_token("cm-2")).status_code == 403


def test_staff_link_and_unlink_are_audited_and_undo_the_carry_over(tenant, intake, engine):
    tenant.add_staff("cm-1")
    first = open_via_broker(intake, engine, tenant.slug)
    second = open_via_broker(intake, engine, tenant.slug)  # not matched by intake
    tenant.api.post(f"/v1/participants/{first.participant_id}/consents", token=tenant.manager_token(),
                    json=consent_body()).raise_for_status()
    assert covers(tenant.slug, second.participant_id)["covered"] is False
    link_path = f"/v1/participants/{second.participant_id}/links"
    body = {"participant_id": first.participant_id, "reason": "same person, confirmed by ID"}
    assert tenant.api.post(link_path, token=tenant.manager_token(), json=body).status_code == 403
    assert tenant.api.post(link_path, token=tenant.supervisor,
                           json={**body, "participant_id": second.participant_id}).status_code == 422
    assert tenant.api.post(link_path, token=tenant.supervisor,
                           json={**body, "participant_id": "nobody"}).status_code == 404
    linked = tenant.api.post(link_path, token=tenant.supervisor, json=body)
    assert linked.status_code == 200, linked.text
    assert linked.json()["person_id"] == first.participant_id
    assert covers(tenant.slug, second.participant_id)["covered"] is True
    again = tenant.api.post(link_path, token=tenant.supervisor, json=body)  # already one person: no new link
    assert len(again.json()["links"]) == 1

    unlinked = tenant.api.post(f"/v1/participants/{second.participant_id}/unlink", token=tenant.supervisor,
                               json={"reason": "a different person with the same name"})
    assert unlinked.status_code == 200, unlinked.text
    assert unlinked.json()["participant_ids"] == [second.participant_id]
    assert unlinked.json()["person_id"] == second.participant_id
    [link] = unlinked.json()["links"]
    assert (link["source"], link["unlinked_by"], link["unlink_reason"]) == (
        "staff", "sup-1", "a different person with the same name")
    assert covers(tenant.slug, second.participant_id)["covered"] is False
    assert [(r["actor"], r["resource_id"]) for r in audited(engine, tenant.slug, "participant.linked")] == [
        ("sup-1", second.participant_id)]
    assert [(r["actor"], r["resource_id"]) for r in audited(engine, tenant.slug, "participant.unlinked")] == [
        ("sup-1", second.participant_id)]
    other = make_token(f"{tenant.slug}-x", ("supervisor",))
    assert tenant.api.post(link_path, token=other, json=body).status_code == 404

