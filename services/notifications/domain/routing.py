"""Who gets what: partner event filters, staff notice topics, reminder channel choice, masked recipients."""

from __future__ import annotations

from collections.abc import Iterable

# Events a partner may subscribe to (short names); all are about service referrals addressed to it.
PARTNER_EVENTS = (
    "service_referral.requested",
    "service_referral.status_changed",
    "service_referral.escalated",
)
_TYPE_PREFIX = "org.diversion.resources."

# Events the agency's own systems (its case management system) may subscribe to: the prosecution record's
# referral, decision and disposition events. This is the agency's own data; a partner never receives them.
AGENCY_EVENTS = (
    "referral.accepted",
    "referral.declined",
    "referral.deferred",
    "referral.disposed",
)
_AGENCY_PREFIX = "org.diversion.intake."
AUDIENCES = ("partner", "agency")

# Staff notices: topic -> template name. A staff contact's `topics` opts into the agency-wide ones.
STAFF_TOPICS = {
    "assignment": "staff_new_assignment",
    "service_referral_rejected": "staff_service_referral_rejected",
    "escalation": "staff_escalation",
    "checkin_overdue": "staff_checkin_overdue",
    "screening_review": "staff_screening_review",
    "contact_overdue": "staff_contact_overdue",
    "end_approaching": "staff_end_approaching",
    "plan_updated": "staff_plan_updated",
    "delivery_failed": "staff_delivery_failed",
}


class UnknownEventType(ValueError):
    """A subscription asked for an event type partners cannot subscribe to."""


def _events_of(audience: str) -> tuple[tuple[str, ...], str]:
    return (AGENCY_EVENTS, _AGENCY_PREFIX) if audience == "agency" else (PARTNER_EVENTS, _TYPE_PREFIX)


def normalize_event_filter(value: str, audience: str = "partner") -> str:
    """'org.diversion.resources.service_referral.requested' or 'service_referral.requested' -> short name."""
    events, prefix = _events_of(audience)
    name = value.strip()
    if name.startswith(prefix):
        name = name[len(prefix):]
    if name not in events:
        raise UnknownEventType(f"{value!r} is not one of {', '.join(events)}")
    return name


def normalize_event_filters(values: Iterable[str], audience: str = "partner") -> list[str]:
    """Deduplicated short names in catalog order; an empty list means every event of the audience."""
    wanted = {normalize_event_filter(value, audience) for value in values}
    return [name for name in _events_of(audience)[0] if name in wanted]


def subscription_wants(filters: Iterable[str], event_name: str) -> bool:
    names = list(filters)
    return not names or event_name in names


def is_rejection(status: str) -> bool:
    """A partner turned a service referral down (the staff are told)."""
    return status in ("rejected", "declined")  # FHIR Task "rejected"; "declined" from the first catalog


def choose_reminder_channel(preferred: str | None, phone: str | None, email: str | None) -> str | None:
    """The participant's chosen channel when it is reachable, else SMS, else email; None when neither."""
    reachable = {"sms": bool(phone), "email": bool(email)}
    if preferred == "none":
        return None
    if preferred in reachable and reachable[preferred]:
        return preferred
    if reachable["sms"]:
        return "sms"
    if reachable["email"]:
        return "email"
    return None


def mask_recipient(channel: str, recipient: str) -> str:
    """What the delivery log shows of a person's address: enough to recognise it, not to use it."""
    if channel == "sms":
        return ("*" * max(len(recipient) - 4, 0)) + recipient[-4:]
    if channel == "email":
        local, _, domain = recipient.partition("@")
        return f"{local[:1]}***@{domain}" if domain else "***"
    return recipient
