"""Events as the other services publish them, for the notifications tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.messaging.catalog import (
    AppointmentScheduled,
    CaseAssigned,
    CheckinOverdue,
    ConsentRecorded,
    DisclosureScope,
    PartnerContact,
    PartnerReferralPayload,
    ServiceReferralEscalated,
    ServiceReferralRequested,
    ServiceReferralStatusChanged,
)
from shared.messaging.envelope import CloudEvent, new_event


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def consent_id_for(agency: str, org: str) -> str:
    """The consent the test events of one agency to one partner travel under (as resources' scope names it)."""
    return f"consent-{agency}-{org}"[:100]


def scope_for(agency: str, org: str) -> DisclosureScope:
    return DisclosureScope(consent_id=consent_id_for(agency, org), participant_id=f"p-{org}",
                           categories=["contact_info"], purpose="service_referral")


def consent_recorded(agency: str, org: str, **changes: Any) -> CloudEvent:
    """casework's consent.recorded for the consent `scope_for(agency, org)` names: a valid one by default."""
    facts: dict[str, Any] = {"consent_id": consent_id_for(agency, org), "participant_id": f"p-{org}",
                             "person_id": f"p-{org}", "recipient_org_id": org,
                             "categories": ["contact_info", "needs_assessment"], "purposes": ["service_referral"],
                             "valid": True, "recorded_at": datetime.now(UTC), **changes}
    return new_event(ConsentRecorded(**facts), subject=facts["participant_id"], tenantid=agency)


def referral_requested(agency: str, org: str, referral_id: str | None = None) -> CloudEvent:
    referral_id = referral_id or uid("sr")
    data = ServiceReferralRequested(
        service_referral_id=referral_id, organization_id=org, service_id="svc-housing",
        consent_id=consent_id_for(agency, org), scope=scope_for(agency, org),
        partner=PartnerReferralPayload(participant_name="Ana Diaz", contact=PartnerContact(phone="+13145550100"),
                                       need="transitional housing"),
        requested_at=datetime.now(UTC),
    )
    return new_event(data, subject=referral_id, tenantid=agency)


def referral_status(agency: str, org: str, status: str = "rejected", note: str | None = "no beds",
                    case_id: str | None = None) -> CloudEvent:
    referral_id = uid("sr")
    data = ServiceReferralStatusChanged(service_referral_id=referral_id, organization_id=org, status=status,
                                        previous_status="requested", note=note, changed_at=datetime.now(UTC),
                                        case_id=case_id, scope=scope_for(agency, org))
    return new_event(data, subject=referral_id, tenantid=agency)


def referral_escalated(agency: str, org: str, case_id: str | None = None) -> CloudEvent:
    referral_id = uid("sr")
    now = datetime.now(UTC)
    data = ServiceReferralEscalated(service_referral_id=referral_id, organization_id=org,
                                    waiting_since=now - timedelta(days=3), escalated_at=now, case_id=case_id,
                                    scope=scope_for(agency, org))
    return new_event(data, subject=referral_id, tenantid=agency)


def case_assigned(agency: str, case_id: str, manager: str) -> CloudEvent:
    data = CaseAssigned(case_id=case_id, case_manager=manager, assigned_at=datetime.now(UTC))
    return new_event(data, subject=case_id, tenantid=agency)


def checkin_overdue(agency: str, case_id: str, days: int = 2) -> CloudEvent:
    data = CheckinOverdue(case_id=case_id, checkin_id=uid("chk"), due_at=datetime.now(UTC) - timedelta(days=days))
    return new_event(data, subject=case_id, tenantid=agency)


def appointment(agency: str, starts_at: datetime, **contact: Any) -> CloudEvent:
    appointment_id = uid("apt")
    data = AppointmentScheduled(appointment_id=appointment_id, case_id=contact.pop("case_id", uid("case")),
                                starts_at=starts_at, location=contact.pop("location", "1114 Market St"), **contact)
    return new_event(data, subject=appointment_id, tenantid=agency)
