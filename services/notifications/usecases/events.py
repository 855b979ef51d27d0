"""What each consumed event does: the deliveries (and reminders) it creates, in the handler's transaction.

Each function returns whether it created deliveries to send now (the service then wakes the delivery
worker once the transaction commits). The row building itself is `fanout`'s.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from services.notifications.domain.reminders import ReminderPolicy
from services.notifications.domain.routing import is_rejection
from services.notifications.usecases.fanout import (
    FanoutContext,
    agency_deliveries,
    case_manager_of,
    link,
    local,
    partner_deliveries,
    plan_appointment,
    record_assignment,
    staff_context_for_escalation,
    staff_context_for_rejection,
    staff_context_for_review,
    staff_deliveries,
)
from services.notifications.usecases.referral_cases import learn
from shared.messaging import CloudEvent
from shared.messaging.catalog import (
    AppointmentScheduled,
    CaseAssigned,
    CheckinOverdue,
    ReferralReviewDue,
    ServiceReferralEscalated,
    ServiceReferralRequested,
    ServiceReferralStatusChanged,
)


def _managers(session: Session, event: CloudEvent[Any]) -> list[str]:
    """The case manager of the case a service referral serves, when the event names the case."""
    case_id = getattr(event.data, "case_id", None)
    manager = case_manager_of(session, event.tenantid, case_id) if case_id else None
    return [manager] if manager else []


def referral_requested(session: Session, event: CloudEvent[ServiceReferralRequested], ctx: FanoutContext) -> bool:
    """To the partner organization's subscriptions."""
    return bool(partner_deliveries(session, event, event.data.organization_id, ctx.now))


def referral_status_changed(session: Session, event: CloudEvent[ServiceReferralStatusChanged],
                            ctx: FanoutContext) -> bool:
    """To the partner's subscriptions (without the case id); a rejection also to the case manager and the
    topic's staff. The referral's case is remembered (`referral_cases`)."""
    data = event.data
    made = learn(session, event.tenantid, data.service_referral_id, data.case_id, ctx)
    made = bool(partner_deliveries(session, event, data.organization_id, ctx.now)) or made
    if is_rejection(data.status):
        made = bool(staff_deliveries(session, event, "service_referral_rejected",
                                     staff_context_for_rejection(data, ctx, event.tenantid), ctx,
                                     direct=_managers(session, event))) or made
    return made


def referral_escalated(session: Session, event: CloudEvent[ServiceReferralEscalated], ctx: FanoutContext) -> bool:
    """To the partner's subscriptions (without the case id), the case manager and the escalation topic's staff."""
    made = learn(session, event.tenantid, event.data.service_referral_id, event.data.case_id, ctx)
    made = bool(partner_deliveries(session, event, event.data.organization_id, ctx.now)) or made
    context = staff_context_for_escalation(event.data, ctx, event.tenantid)
    return bool(staff_deliveries(session, event, "escalation", context, ctx, direct=_managers(session, event))) or made


def case_assigned(session: Session, event: CloudEvent[CaseAssigned], ctx: FanoutContext) -> bool:
    """Remember the case manager (later notices go to them) and tell them of the new case."""
    data = event.data
    record_assignment(session, event.tenantid, data.case_id, data.case_manager, data.assigned_at)
    context = {"case_ref": data.case_id, "link": link(ctx, f"cases/{data.case_id}", event.tenantid)}
    return bool(staff_deliveries(session, event, "assignment", context, ctx, direct=[data.case_manager]))


def checkin_overdue(session: Session, event: CloudEvent[CheckinOverdue], ctx: FanoutContext) -> bool:
    """To the case's manager and the topic's staff."""
    data = event.data
    due = data.due_at
    context = {"case_ref": data.case_id, "due_at": local(due, ctx),
               "days_overdue": max((ctx.now - due).days, 0),
               "link": link(ctx, f"cases/{data.case_id}", event.tenantid)}
    manager = case_manager_of(session, event.tenantid, data.case_id)
    return bool(staff_deliveries(session, event, "checkin_overdue", context, ctx,
                                 direct=[manager] if manager else []))


def to_agency(session: Session, event: CloudEvent[Any], ctx: FanoutContext) -> bool:
    """The prosecution record's events to the agency's own system (agency subscriptions only)."""
    return bool(agency_deliveries(session, event, ctx.now))


def review_due(session: Session, event: CloudEvent[ReferralReviewDue], ctx: FanoutContext) -> bool:
    """The screening team (staff contacts with the `screening_review` topic) is told a referral is back."""
    context = staff_context_for_review(event.data, ctx, event.tenantid)
    return bool(staff_deliveries(session, event, "screening_review", context, ctx))


def appointment_scheduled(session: Session, event: CloudEvent[AppointmentScheduled], ctx: FanoutContext,
                          policy: ReminderPolicy) -> bool:
    """Plan (or move) the appointment's reminders; they are queued when due."""
    plan_appointment(session, event.tenantid, event.data, policy, ctx.now, ctx.default_country_code)
    return True
