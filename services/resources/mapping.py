"""Rows and search hits as the API's bodies (every timestamp column is `UtcDateTime`, so already aware)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from services.resources.domain.listings import days_since_assured
from services.resources.domain.referrals import Actor, Status, allowed_next
from services.resources.models import ServiceReferral, ServiceReferralHistory
from services.resources.schemas import (
    ConsentScope,
    OrganizationRef,
    ParticipantContact,
    PartnerServiceReferralOut,
    ServiceHit,
    ServiceReferralHistoryOut,
    ServiceReferralOut,
    StaleListingOut,
)
from services.resources.search import Hit
from shared.disclosure import DEFAULT_PROFILE, REDISCLOSURE_NOTICE, SharingProfile, project


def partner_record(ref: ServiceReferral, **extra: Any) -> dict[str, Any]:
    """The referral as one flat record for the shared partner projection (ADR 0070)."""
    return {
        "service_referral_id": ref.id, "service_id": ref.service_id, "organization_id": ref.organization_id,
        "status": ref.status, "reason_code": ref.reason_code, "participant_name": ref.participant_name,
        "phone": ref.phone, "email": ref.email, "preferred_language": ref.preferred_language, "need": ref.need,
        "need_category": ref.need_category, "appointment_preference": ref.appointment_preference,
        "requested_at": ref.requested_at.isoformat() if ref.requested_at else None,
        "respond_by": ref.respond_by.isoformat() if ref.respond_by else None, **extra,
    }


_PARTNER_API_FIELDS = frozenset(PartnerServiceReferralOut.model_fields)


def referral_view(ref: ServiceReferral, actor: Actor, profile: SharingProfile = DEFAULT_PROFILE
                  ) -> ServiceReferralOut | PartnerServiceReferralOut:
    """The referring agency's view of a referral, or the partner's: exactly what its sharing profile allows,
    the one projection its webhooks carry too (`shared.disclosure.project`)."""
    moves = allowed_next(Status(ref.status), actor)
    if actor is Actor.PARTNER:
        projected = project(partner_record(ref), profile)
        fields = {k: v for k, v in projected.items() if k in _PARTNER_API_FIELDS}
        fields.update(id=ref.id, status=ref.status, updated_at=ref.updated_at, allowed_next=moves)
        return PartnerServiceReferralOut(**fields)
    return ServiceReferralOut(
        id=ref.id, service_id=ref.service_id, organization_id=ref.organization_id, status=ref.status,
        reason_code=ref.reason_code, participant_name=ref.participant_name,
        contact=ParticipantContact(phone=ref.phone, email=ref.email, preferred_language=ref.preferred_language),
        need=ref.need, need_category=ref.need_category, appointment_preference=ref.appointment_preference,
        redisclosure_notice=ref.redisclosure_notice, requested_at=ref.requested_at, respond_by=ref.respond_by,
        updated_at=ref.updated_at, allowed_next=moves,
        case_id=ref.case_id, participant_id=ref.participant_id, consent_id=ref.consent_id,
        consent=ConsentScope(categories=ref.consent_categories, purpose=ref.consent_purpose),
        note=ref.note, requested_by=ref.requested_by, escalated_at=ref.escalated_at,
    )


def withheld_view(ref: ServiceReferral) -> PartnerServiceReferralOut:
    """A partner's list entry for a referral no valid consent covers now: id and status, nothing about the
    person, nothing it may do (ADR 0070)."""
    return PartnerServiceReferralOut(id=ref.id, status=ref.status, updated_at=ref.updated_at, allowed_next=[],
                                     redisclosure_notice=REDISCLOSURE_NOTICE, withheld="consent-not-covering")


def history_out(row: ServiceReferralHistory) -> ServiceReferralHistoryOut:
    return ServiceReferralHistoryOut(
        from_status=row.from_status, to_status=row.to_status, reason_code=row.reason_code, note=row.note,
        changed_by=row.changed_by, changed_by_role=row.changed_by_role, changed_at=row.changed_at,
    )


def hit_out(hit: Hit) -> ServiceHit:
    return ServiceHit(
        id=hit.service_id, name=hit.name, organization=OrganizationRef(id=hit.organization_id,
                                                                       name=hit.organization_name),
        status=hit.status, capacity=hit.capacity,
        need_categories=hit.needs, assured_date=hit.assured_date, distance_km=hit.distance_km,
    )


def stale_listing_out(row: Any, today: dt.date) -> StaleListingOut:
    return StaleListingOut(**{k: v for k, v in row.items() if k != "assured_key"},
                           days_since_assured=days_since_assured(row["assured_date"], today))
