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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy.orm import Session

from shared.messaging.catalog import NotificationsDisclosureRecorded, spec_for
from shared.messaging.envelope import new_event
from shared.messaging.outbox import record as record_event

if TYPE_CHECKING:  # dispatch calls this module
    from services.notifications.usecases.dispatch import Outcome

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


@dataclass(frozen=True)
class Disclosure:
    """What a partner delivery discloses, taken from its row when it was claimed (so recording the outcome
    reads nothing again)."""

    referral_id: str | None
    org_id: str | None
    channel: str
    purpose: str
    consent_id: str | None
    categories: tuple[str, ...]


def disclosure_of(row: Any) -> Disclosure | None:
    """A claimed delivery row's disclosure, if it names someone (a partner event with categories)."""
    if row.trigger_event_type not in PARTNER_TYPES or row.purpose != "partner_event" or not row.disclosure_categories:
        return None
    return Disclosure(referral_id=_referral_of(row.body), org_id=row.org_id,
                      channel=row.channel if row.channel in CHANNELS else "webhook",
                      purpose=row.disclosure_purpose or "service_referral", consent_id=row.consent_id,
                      categories=tuple(sorted(row.disclosure_categories)))


def record_partner_disclosures(session: Session, outcomes: Sequence[Outcome], delivered: Collection[str]) -> int:
    """In the outcomes' transaction: one `disclosure.recorded` per disclosing delivery delivered or withheld."""
    recorded = 0
    for o in outcomes:
        disclosure = o.job.disclosure
        if disclosure is None:
            continue
        if o.job.delivery_id in delivered:
            outcome: Literal["disclosed", "withheld"] = "disclosed"
        elif o.job.message is None:
            outcome = "withheld"
        else:
            continue  # not sent yet (a retry) or failed: nothing left the service
        data = NotificationsDisclosureRecorded(
            service_referral_id=disclosure.referral_id, recipient_org_id=disclosure.org_id,
            channel=disclosure.channel, purpose=disclosure.purpose, consent_id=disclosure.consent_id,
            outcome=outcome, categories=list(disclosure.categories),
            reason=(o.job.cancel_reason or "withheld")[:300] if outcome == "withheld" else None, occurred_at=o.at)
        record_event(session, new_event(data, subject=disclosure.referral_id or o.job.delivery_id,
                                        tenantid=o.job.agency), service="notifications")
        recorded += 1
    return recorded
