"""The case manager hears of every casework alert and of a referral a partner never received; appointments
that move or are cancelled move or withdraw their reminders."""

from __future__ import annotations

import json
import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.notifications.domain.reminders import ReminderPolicy
from services.notifications.models import Delivery, Reminder
from services.notifications.usecases.directory import hold_notice
from services.notifications.usecases.fanout import (
    FanoutContext,
    appointment_version_applies,
    case_manager_of,
    link,
    local,
    plan_appointment,
    staff_deliveries,
    withdraw_reminder,
)
from services.notifications.usecases.referral_cases import case_of, waiting_for_case
from shared.messaging import CloudEvent
from shared.messaging.catalog import (
    AppointmentCancelled,
    AppointmentRescheduled,
    CaseContactOverdue,
    CaseEndApproaching,
    CasePlanUpdated,
    DeliveryFailed,
)

log = logging.getLogger(__name__)


def _manager(session: Session, agency: str, case_id: str | None, named: str | None = None) -> list[str]:
    manager = named or (case_manager_of(session, agency, case_id) if case_id else None)
    return [manager] if manager else []


def contact_overdue(session: Session, event: CloudEvent[CaseContactOverdue], ctx: FanoutContext) -> bool:
    data = event.data
    context = {"case_ref": data.case_id, "due_at": local(data.due_at, ctx),
               "last_contact_at": local(data.last_contact_at, ctx) if data.last_contact_at else None,
               "link": link(ctx, f"cases/{data.case_id}", event.tenantid)}
    return bool(staff_deliveries(session, event, "contact_overdue", context, ctx,
                                 direct=_manager(session, event.tenantid, data.case_id, data.case_manager)))


def end_approaching(session: Session, event: CloudEvent[CaseEndApproaching], ctx: FanoutContext) -> bool:
    data = event.data
    context = {"case_ref": data.case_id, "expected_end": data.expected_end, "days_left": data.days_left,
               "link": link(ctx, f"cases/{data.case_id}", event.tenantid)}
    return bool(staff_deliveries(session, event, "end_approaching", context, ctx,
                                 direct=_manager(session, event.tenantid, data.case_id, data.case_manager)))


def plan_updated(session: Session, event: CloudEvent[CasePlanUpdated], ctx: FanoutContext) -> bool:
    data = event.data
    context = {"case_ref": data.case_id, "plan_version": data.plan_version, "change": data.change,
               "goals_total": data.goals_total, "goals_completed": data.goals_completed,
               "link": link(ctx, f"cases/{data.case_id}/plan", event.tenantid)}
    return bool(staff_deliveries(session, event, "plan_updated", context, ctx,
                                 direct=_manager(session, event.tenantid, data.case_id)))


def delivery_failed(session: Session, event: CloudEvent[DeliveryFailed], ctx: FanoutContext) -> bool:
    """A partner never got a service-referral event: the case manager of the referral's case and the staff
    with the `delivery_failed` topic are told which partner and why. The partner's body never names the case:
    it is the one learnt for the referral (`referral_cases`); until it is known the manager's notice waits.
    Failures of staff email and reminders are in the delivery log only (telling someone by the channel that
    failed loops)."""
    data = event.data
    delivery = session.get(Delivery, data.delivery_id)
    if delivery is None or delivery.purpose != "partner_event" or delivery.agency_id != event.tenantid:
        return False
    try:
        sent: dict[str, Any] = json.loads(delivery.body).get("data") or {}
    except (ValueError, AttributeError):
        sent = {}
    referral = sent.get("service_referral_id") or delivery.trigger_event_id
    case_id = sent.get("case_id") or (  # bodies made before ADR 0043's amendment still name it
        case_of(session, event.tenantid, referral) if sent.get("service_referral_id") else None)
    context = {"referral_ref": referral, "case_ref": case_id,
               "organization_name": delivery.org_id or sent.get("organization_id") or "the partner",
               "attempts": data.attempts, "reason": data.last_error,
               "link": link(ctx, f"service-referrals/{referral}", event.tenantid)}
    if case_id is None and sent.get("service_referral_id"):
        hold_notice(session, event, waiting_for_case(referral), "delivery_failed", context, ctx.now)
    return bool(staff_deliveries(session, event, "delivery_failed", context, ctx,
                                 direct=_manager(session, event.tenantid, case_id), case_id=case_id))


# ------------------------------------------------------------------ appointments that move or go away


def appointment_rescheduled(session: Session, event: CloudEvent[AppointmentRescheduled], ctx: FanoutContext,
                            policy: ReminderPolicy) -> bool:
    """The old time's reminders are withdrawn (never sent), the new time's planned."""
    plan_appointment(session, event.tenantid, event.data, policy, ctx.now, ctx.default_country_code)
    return True


def appointment_cancelled(session: Session, event: CloudEvent[AppointmentCancelled], ctx: FanoutContext) -> bool:
    """None of the appointment's reminders is sent (a queued one is cancelled while it has not gone out)."""
    data = event.data
    if not appointment_version_applies(session, event.tenantid, data.appointment_id, data.version, "cancelled",
                                       ctx.now):
        return False
    rows = session.scalars(select(Reminder).where(
        Reminder.agency_id == event.tenantid, Reminder.appointment_id == data.appointment_id,
    ).with_for_update()).all()
    for row in rows:
        withdraw_reminder(session, row, "appointment cancelled", ctx.now)
    return False
