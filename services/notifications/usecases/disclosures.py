"""Deliveries to partners that disclose a participant's information, for casework's accounting (ADR 0071).

A partner's delivery discloses whatever its projected body holds (ADR 0070: `disclosure_categories`, derived
from the body its sharing profile made): a request, and under the default profile a status change or an
escalation too (the first name and contact). When such a delivery is delivered, or withheld (cancelled
before sending, or refused by the send-time consent check, with its reason), notifications publishes
`org.diversion.notifications.disclosure.recorded`. Notifications does not know the participant: the event
names the service referral (the trigger event's subject), through which casework finds the person.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Literal

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from services.notifications.models import Delivery
from shared.messaging.catalog import NotificationsDisclosureRecorded, spec_for
from shared.messaging.envelope import new_event
from shared.messaging.outbox import record as record_event

if TYPE_CHECKING:  # dispatch calls this module
    from services.notifications.usecases.dispatch import Outcome

_delivery: Table = Delivery.__table__  # type: ignore[assignment]
PARTNER_TYPES = frozenset(spec_for("resources", name).type for name in (
    "service_referral.requested", "service_referral.status_changed", "service_referral.escalated"))
CHANNELS = frozenset({"webhook", "amqp", "email", "sms"})


def _referral_of(body: str) -> str | None:
    """The service referral a partner's delivery body is about (if readable)."""
    try:
        event = json.loads(body)
        data = event.get("data") or {}
        return str(data.get("service_referral_id") or event.get("subject") or "") or None
    except (ValueError, TypeError, AttributeError):
        return None


def record_partner_disclosures(session: Session, outcomes: Sequence[Outcome], delivered: Collection[str]) -> int:
    """In the outcomes' transaction: one `disclosure.recorded` per disclosing delivery delivered or withheld."""
    wanted: dict[str, tuple[Outcome, Literal["disclosed", "withheld"]]] = {}
    for o in outcomes:
        if o.job.trigger_event_type not in PARTNER_TYPES:
            continue
        if o.job.delivery_id in delivered:
            wanted[o.job.delivery_id] = (o, "disclosed")
        elif o.job.message is None:
            wanted[o.job.delivery_id] = (o, "withheld")
    if not wanted:
        return 0
    rows = session.execute(select(_delivery.c.id, _delivery.c.channel, _delivery.c.org_id, _delivery.c.purpose,
                                  _delivery.c.body, _delivery.c.consent_id, _delivery.c.disclosure_categories,
                                  _delivery.c.disclosure_purpose).where(_delivery.c.id.in_(list(wanted)))).all()
    rows = [r for r in rows if r.purpose == "partner_event" and r.disclosure_categories]  # names someone
    for row in rows:
        o, outcome = wanted[row.id]
        referral_id, consent_id = _referral_of(row.body), row.consent_id
        channel = row.channel if row.channel in CHANNELS else "webhook"
        data = NotificationsDisclosureRecorded(
            service_referral_id=referral_id, recipient_org_id=row.org_id, channel=channel,
            purpose=row.disclosure_purpose or "service_referral", consent_id=consent_id, outcome=outcome,
            categories=sorted(row.disclosure_categories or []),
            reason=(o.job.cancel_reason or "withheld")[:300] if outcome == "withheld" else None, occurred_at=o.at)
        record_event(session, new_event(data, subject=referral_id or row.id, tenantid=o.job.agency),
                     service="notifications")
    return len(rows)
