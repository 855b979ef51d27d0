"""The webhook and AMQP-feed body of every partner-bound event type, for any sharing profile, is exactly that
profile's fields (ADR 0070): built the way resources builds the event (its `partner_view` under the stored
profile), carried as bytes the way the broker carries it, turned into a partner body the way notifications
does (`fanout.partner_body`). The partner API's view of the same referral holds the same personal fields."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from services.notifications.usecases.fanout import partner_body
from services.resources.domain.referrals import Actor
from services.resources.mapping import referral_view
from services.resources.models import ServiceReferral, SharingProfileRow
from services.resources.usecases.referrals import partner_view, scope
from shared import disclosure as d
from shared.messaging import new_event
from shared.messaging.catalog import (
    PartnerContact,
    PartnerReferralPayload,
    ServiceReferralEscalated,
    ServiceReferralRequested,
    ServiceReferralStatusChanged,
)
from shared.messaging.envelope import parse_event

NOW = dt.datetime(2026, 12, 3, 9, 0, tzinfo=dt.UTC)
NOTE = "relapse risk, called her mother"
CASE_ID, PARTICIPANT_ID, STAFF = "case-7f3a91", "participant-5521", "cm.jones@stl-cao"


@dataclass
class OneProfile:
    """Stands in for resources' session: `sharing.profile_for` asks it for the stored row."""

    row: SharingProfileRow | None

    def get(self, _model: Any, _key: Any) -> SharingProfileRow | None:
        return self.row


def referral(first: str, need_category: str | None) -> ServiceReferral:
    return ServiceReferral(
        id="sr-1", agency_id="stl-cao", case_id=CASE_ID, participant_id=PARTICIPANT_ID,
        participant_name=f"{first} Example", phone="+13145550100", email="p@example.org", preferred_language="es",
        need="Opioid use disorder, needs a bed", need_category=need_category, appointment_preference="mornings",
        service_id="svc-1", organization_id="org-1", consent_id="consent-1",
        consent_categories=["contact_info", "needs_assessment"], consent_purpose="service_referral",
        redisclosure_notice=d.REDISCLOSURE_NOTICE, status="accepted", reason_code=None, note=NOTE, version=3,
        requested_by=STAFF, requested_at=NOW, respond_by=NOW, updated_at=NOW, escalated_at=None)


def event_of(event_type: str, ref: ServiceReferral, session: Any) -> bytes:
    """The event as resources publishes it (the same constructors as `usecases.referrals` / `escalation`)."""
    if event_type == "service_referral.requested":
        data: Any = ServiceReferralRequested(
            service_referral_id=ref.id, organization_id=ref.organization_id, service_id=ref.service_id,
            consent_id=ref.consent_id, requested_at=NOW, respond_by=NOW,
            partner=PartnerReferralPayload(participant_name=ref.participant_name, need=ref.need,
                                           need_category=ref.need_category,
                                           contact=PartnerContact(phone=ref.phone, email=ref.email)),
            partner_view=partner_view(session, ref), scope=scope(ref))
    elif event_type == "service_referral.status_changed":
        data = ServiceReferralStatusChanged(
            service_referral_id=ref.id, organization_id=ref.organization_id, service_id=ref.service_id,
            case_id=ref.case_id, status="cancelled", previous_status="accepted", reason_code="other", note=NOTE,
            changed_at=NOW, changed_by=STAFF,
            partner_view=partner_view(session, ref, previous_status="accepted", changed_at=NOW.isoformat()),
            scope=scope(ref))
    else:
        data = ServiceReferralEscalated(
            service_referral_id=ref.id, organization_id=ref.organization_id, service_id=ref.service_id,
            case_id=ref.case_id, waiting_since=NOW, escalated_at=NOW, respond_by=NOW,
            partner_view=partner_view(session, ref, escalated_at=NOW.isoformat()), scope=scope(ref))
    return new_event(data, subject=ref.id, tenantid=ref.agency_id).to_bytes()


stored_profiles = st.builds(
    lambda extra, methods: SharingProfileRow(
        agency_id="stl-cao", organization_id="org-1", fields=sorted(d.REQUIRED_FIELDS | extra),
        contact_methods=sorted(methods), version=1, updated_by="supervisor-1", updated_at=NOW),
    st.frozensets(st.sampled_from(sorted(d.PARTNER_FIELDS))),
    st.frozensets(st.sampled_from(sorted(d.CONTACT_METHODS))),
)


@settings(max_examples=300, deadline=None)
@given(event_type=st.sampled_from(d.PARTNER_EVENT_TYPES), row=st.none() | stored_profiles,
       first=st.text(alphabet="ABCDEFGHIJ", min_size=1, max_size=8),
       need_category=st.sampled_from([None, "housing", "substance_use", "mental_health_crisis"]))
def test_a_partner_body_is_exactly_its_profile_for_every_event_type(event_type: str, row: SharingProfileRow | None,
                                                                    first: str, need_category: str | None) -> None:
    profile = d.DEFAULT_PROFILE if row is None else d.SharingProfile(frozenset(row.fields),
                                                                      frozenset(row.contact_methods))
    ref = referral(first, need_category)
    event = parse_event(event_of(event_type, ref, OneProfile(row)))
    body, consent_id, categories, _purpose = partner_body(event)

    sent = json.loads(body)
    assert set(sent["data"]) == set(profile.fields) | {d.NOTICE_FIELD}
    assert sent["data"][d.NOTICE_FIELD] == d.REDISCLOSURE_NOTICE
    assert sent["type"] == event.type and sent["id"] == event.id
    for never in (NOTE, CASE_ID, PARTICIPANT_ID, STAFF, "partner_view", "scope", "consent-1"):
        assert never not in body, never
    if "contact" in profile.fields and sent["data"]["contact"] is not None:
        assert set(sent["data"]["contact"]) - {"preferred_language"} <= set(profile.contact_methods)
    assert consent_id == "consent-1"
    assert set(d.derive_categories(sent["data"])) <= set(categories)

    # The partner API's view of the referral carries the same personal fields as the webhook.
    api = referral_view(ref, Actor.PARTNER, profile).model_dump(mode="json")
    personal = {"participant_first_name", "participant_name", "contact", "need", "need_category",
                "appointment_preference"}
    assert set(api) & personal == set(profile.fields) & personal
    assert api.get("contact") == sent["data"].get("contact") if "contact" in profile.fields else "contact" not in api
    for never in (NOTE, CASE_ID, PARTICIPANT_ID, STAFF):
        assert never not in json.dumps(api)
