"""Close-out (issue 16): when casework closes a case, its open service referrals close with it.

On `case.completed`, `case.terminated` or `case.withdrawn` every referral of that case not yet in a final status
is cancelled with the reason code `case_closed`, its history says so, and `service_referral.status_changed`
tells the partner: nothing more than the status and that code (the partner projection decides what of the
event it sees). The handler's inbox makes it happen once, however often the event arrives; a referral
already final is left as it is.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.resources.domain.referrals import TERMINAL, Actor, Status
from services.resources.models import ServiceReferral, ServiceReferralHistory
from shared.messaging import Emit
from shared.messaging.catalog import DisclosureScope, ServiceReferralStatusChanged
from shared.messaging.envelope import new_event

CLOSED_BY = "resources"  # the suite itself, on casework's word: no staff member moved it
REASON = "case_closed"


def close_case_referrals(session: Session, emit: Emit, agency: str, case_id: str, now: dt.datetime) -> list[str]:
    """Cancel the case's open referrals; returns their ids."""
    rows = session.scalars(select(ServiceReferral).where(
        ServiceReferral.agency_id == agency, ServiceReferral.case_id == case_id,
        ServiceReferral.status.not_in([status.value for status in TERMINAL]),
    ).order_by(ServiceReferral.id).with_for_update()).all()
    for ref in rows:
        previous = ref.status
        ref.status, ref.reason_code, ref.note = Status.CANCELLED.value, REASON, None
        ref.version += 1
        ref.updated_at = now
        session.add(ServiceReferralHistory(
            service_referral_id=ref.id, agency_id=ref.agency_id, from_status=previous, to_status=ref.status,
            reason_code=REASON, note=None, changed_by=CLOSED_BY, changed_by_role=Actor.AGENCY.value,
            changed_at=now,
        ))
        emit(new_event(ServiceReferralStatusChanged(
            service_referral_id=ref.id, organization_id=ref.organization_id, service_id=ref.service_id,
            case_id=ref.case_id, status=ref.status, previous_status=previous, reason_code=REASON, note=None,
            changed_at=now, changed_by=CLOSED_BY,
            # The partner's last word is the minimal closed status, under the consent it was referred with.
            partner_view={"service_referral_id": ref.id, "service_id": ref.service_id, "status": ref.status,
                          "previous_status": previous, "reason_code": REASON},
            scope=DisclosureScope(consent_id=ref.consent_id, participant_id=ref.participant_id, categories=[],
                                  purpose=ref.consent_purpose),
        ), subject=ref.id, tenantid=ref.agency_id))
    return [ref.id for ref in rows]
