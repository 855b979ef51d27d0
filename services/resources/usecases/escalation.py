"""Referrals a partner left unanswered past their SLA: claimed once, escalated once (an event and an audit row)."""

from __future__ import annotations

import datetime as dt
import logging
from typing import cast

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session

from services.resources.domain.referrals import Status
from services.resources.models import ServiceReferral
from services.resources.usecases.referrals import partner_view
from shared.auth import Identity
from shared.extensions import AuditLog
from shared.messaging import Emit, new_event
from shared.messaging.catalog import DisclosureScope, ServiceReferralEscalated

log = logging.getLogger(__name__)

SYSTEM_ACTOR = "service:resources"  # who escalates: the service's own timer, not a user
SYSTEM_ROLES = frozenset({"case_manager"})  # on behalf of the referring agency (as intake's and casework's timers)


def escalate_due(session: Session, emit: Emit, audit: AuditLog, now: dt.datetime, batch: int = 100) -> int:
    """Claim overdue referrals and record their escalation events in one transaction; the count claimed.

    `escalated_at IS NULL` in the UPDATE makes the claim exclusive: of two instances racing for a row,
    the second finds it already set (PostgreSQL re-checks the condition after the first commits), and
    SKIP LOCKED lets it move on to other rows instead of waiting.
    """
    r = cast(Table, ServiceReferral.__table__)
    due = (
        select(r.c.id)
        .where(r.c.status == Status.REQUESTED.value, r.c.escalated_at.is_(None), r.c.respond_by <= now)
        .order_by(r.c.respond_by)
        .limit(batch)
    )
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    claimed = session.execute(
        update(r).where(r.c.id.in_(due), r.c.escalated_at.is_(None)).values(escalated_at=now)
        .returning(r.c.id, r.c.agency_id, r.c.organization_id, r.c.service_id, r.c.case_id, r.c.requested_at,
                   r.c.respond_by, r.c.consent_id, r.c.participant_id, r.c.consent_categories, r.c.consent_purpose,
                   r.c.status)
    ).all()
    for row in claimed:
        emit(new_event(ServiceReferralEscalated(
            service_referral_id=row.id, organization_id=row.organization_id, service_id=row.service_id,
            case_id=row.case_id, waiting_since=row.requested_at, escalated_at=now, respond_by=row.respond_by,
            # the partner's sharing profile over the whole referral, as every partner-bound event (ADR 0070)
            partner_view=partner_view(session, session.get_one(ServiceReferral, row.id),
                                      escalated_at=now.isoformat()),
            scope=DisclosureScope(consent_id=row.consent_id, participant_id=row.participant_id,
                                  categories=list(row.consent_categories or []), purpose=row.consent_purpose),
        ), subject=row.id, tenantid=row.agency_id))
        audit.record_as(Identity(sub=SYSTEM_ACTOR, agency=row.agency_id, roles=SYSTEM_ROLES),
                        "service_referral.escalated", "service_referral", row.id,
                        detail={"respond_by": row.respond_by.isoformat()})
    session.commit()
    if claimed:
        log.info("escalated %d unanswered service referrals", len(claimed))
    return len(claimed)
