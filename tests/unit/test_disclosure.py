"""The classification, the partner projection and the consent snapshot check (shared.disclosure, ADR 0070)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared import disclosure as d
from shared.messaging.catalog import (
    DisclosureScope,
    PartnerContact,
    PartnerReferralPayload,
    ServiceReferralEscalated,
    ServiceReferralRequested,
    ServiceReferralStatusChanged,
)

NOW = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)
SECRETS = ("Theft 3rd degree", "prior: DUI 2019", "CR-2026-0042", "called her mother, relapse risk",
           "case-7f3a", "cm.jones", "part-99", "consent-1")


def _events(first: str, need: str, category: str | None) -> dict[str, dict[str, Any]]:
    """Each partner-bound event type's data, as resources emits it, loaded with what must never leave."""
    requested = ServiceReferralRequested(
        service_referral_id="sr-1", organization_id="org-1", service_id="svc-1", consent_id="consent-1",
        requested_at=NOW, respond_by=NOW,
        partner=PartnerReferralPayload(participant_name=f"{first} Doe", need=need, need_category=category,
                                       contact=PartnerContact(phone="+15555550100", email="a@example.org")),
        scope=DisclosureScope(consent_id="consent-1", participant_id="part-99", categories=["contact_info"]),
    ).model_dump(mode="json")
    changed = ServiceReferralStatusChanged(
        service_referral_id="sr-1", organization_id="org-1", status="cancelled", previous_status="requested",
        reason_code="other", note=SECRETS[3], changed_at=NOW, changed_by="cm.jones", case_id="case-7f3a",
    ).model_dump(mode="json")
    escalated = ServiceReferralEscalated(
        service_referral_id="sr-1", organization_id="org-1", waiting_since=NOW, escalated_at=NOW,
        case_id="case-7f3a",
    ).model_dump(mode="json")
    extra = {"charges": SECRETS[0], "criminal_history": SECRETS[1], "case_number": SECRETS[2],
             "participant_id": "part-99", "requested_by": "cm.jones", "participant_name": f"{first} Doe"}
    return {"service_referral.requested": {**requested, **extra},
            "service_referral.status_changed": {**changed, **extra},
            "service_referral.escalated": {**escalated, **extra}}


profiles = st.builds(
    lambda extra, methods: d.SharingProfile.of(d.REQUIRED_FIELDS | extra, methods),
    st.frozensets(st.sampled_from(sorted(d.PARTNER_FIELDS))),
    st.frozensets(st.sampled_from(sorted(d.CONTACT_METHODS))),
) | st.just(d.DEFAULT_PROFILE)


@settings(max_examples=200, deadline=None)
@given(event_type=st.sampled_from(d.PARTNER_EVENT_TYPES), profile=profiles,
       first=st.text(alphabet="ABCDEFGHIJ", min_size=1, max_size=8),
       category=st.sampled_from([None, "housing", "substance_use", "mental_health_crisis"]))
def test_every_partner_event_projects_to_exactly_the_profile(event_type: str, profile: d.SharingProfile,
                                                             first: str, category: str | None) -> None:
    data = _events(first, "Opioid use disorder, needs a bed", category)[event_type]
    body = d.project(data, profile)
    assert set(body) == set(profile.fields) | {d.NOTICE_FIELD}
    assert body[d.NOTICE_FIELD] == d.REDISCLOSURE_NOTICE
    assert not set(body) & d.NEVER_LEAVE
    text = repr(body)
    for secret in SECRETS:
        assert secret not in text


def test_default_profile_is_the_safe_one() -> None:
    data = _events("Ana", "Opioid use disorder", "substance_use")["service_referral.requested"]
    body = d.project(data)
    assert body["participant_first_name"] == "Ana"
    assert body["need_category"] == "substance_use"
    assert "need" not in body and "participant_name" not in body
    assert body["contact"] == {"phone": "+15555550100", "email": "a@example.org", "preferred_language": "en"}
    phone_only = d.project(data, d.SharingProfile.of(d.DEFAULT_PROFILE.fields, ["phone"]))
    assert phone_only["contact"] == {"phone": "+15555550100", "preferred_language": "en"}
    assert d.project(data, allowed_categories=["needs_assessment"])["contact"] is None


def test_categories_are_derived_from_the_fields() -> None:
    assert d.derive_categories({"participant_first_name": "Ana", "need_category": "housing"}) == [
        "contact_info", "needs_assessment"]
    part2 = d.derive_categories({"participant_first_name": "Ana", "need_category": "substance_use"})
    assert "substance_use_treatment" in part2 and d.needs_part_2(part2)
    # free text takes the most sensitive class of its record
    assert "substance_use_treatment" in d.derive_categories({"need": "beds", "need_category": "substance_use"})
    assert d.derive_categories({"need": "beds"}) == ["needs_assessment"]
    assert "substance_use_treatment" in d.derive_categories({"assessment_domains": ["alcohol"]})
    assert d.derive_categories({"status": "accepted", "service_referral_id": "x"}) == []


@pytest.mark.parametrize("fields,slug", [(["service_referral_id", "status", "note"], "never_leaves"),
                                         (["service_referral_id", "status", "shoe_size"], "unknown"),
                                         (["status"], "required")])
def test_a_profile_never_names_what_cannot_leave(fields: list[str], slug: str) -> None:
    with pytest.raises(d.ProfileInvalid) as caught:
        d.SharingProfile.of(fields)
    assert caught.value.errors[0]["type"] == slug


def _snap(cid: str, person: str = "p1", **kw: Any) -> d.ConsentSnapshot:
    base: dict[str, Any] = {"recipient_org_id": "org-1", "categories": frozenset({"contact_info", "needs_assessment"}),
                            "purposes": frozenset({"service_referral"}), "valid": True}
    return d.ConsentSnapshot(consent_id=cid, person_key=person, **{**base, **kw})


def test_snapshot_check() -> None:
    today = dt.date(2026, 12, 2)
    wanted = ["contact_info"]
    assert d.snapshot_covers([_snap("c1")], "c1", "org-1", "service_referral", wanted, today)[0]
    revoked = _snap("c1", revoked_on=today)
    ok, _, reason = d.snapshot_covers([revoked], "c1", "org-1", "service_referral", wanted, today)
    assert not ok and "revoked" in reason
    # another consent of the same person carries over; another person's does not
    assert d.snapshot_covers([revoked, _snap("c2")], "c1", "org-1", "service_referral", wanted, today)[1] == "c2"
    assert not d.snapshot_covers([revoked, _snap("c3", "p2")], "c1", "org-1", "service_referral", wanted, today)[0]
    assert not d.snapshot_covers([_snap("c1")], "c1", "org-1", "service_referral", ["substance_use_treatment"],
                                 today)[0]
    assert not d.snapshot_covers([_snap("c1", expired=True)], "c1", "org-1", "service_referral", wanted, today)[0]
    assert not d.snapshot_covers([], "c9", "org-1", "service_referral", wanted, today)[0]
