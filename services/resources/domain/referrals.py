"""Service referral lifecycle (FHIR Task statuses), who may move it where, and what a partner may see.

    requested → received → accepted | rejected → in-progress → completed | cancelled | failed

A partner answers (received, accepted, rejected, in-progress, completed, failed); the referring agency
may only cancel. Ending in rejected, cancelled or failed needs a reason code.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from shared.vocabulary import ServiceReferralStatus

# The statuses are the suite's one vocabulary (shared.vocabulary), which the catalog publishes.
Status = ServiceReferralStatus


class Actor(StrEnum):
    PARTNER = "partner"  # the organization the referral is addressed to
    AGENCY = "agency"  # the referring agency's staff


TRANSITIONS: dict[Status, frozenset[Status]] = {
    # A partner may acknowledge first (received) or answer straight away (FHIR allows both).
    Status.REQUESTED: frozenset({Status.RECEIVED, Status.ACCEPTED, Status.REJECTED, Status.CANCELLED}),
    Status.RECEIVED: frozenset({Status.ACCEPTED, Status.REJECTED, Status.CANCELLED}),
    Status.ACCEPTED: frozenset({Status.IN_PROGRESS, Status.CANCELLED, Status.FAILED}),
    Status.IN_PROGRESS: frozenset({Status.COMPLETED, Status.CANCELLED, Status.FAILED}),
    Status.REJECTED: frozenset(),
    Status.COMPLETED: frozenset(),
    Status.CANCELLED: frozenset(),
    Status.FAILED: frozenset(),
}
SET_BY: dict[Actor, frozenset[Status]] = {
    Actor.PARTNER: frozenset({Status.RECEIVED, Status.ACCEPTED, Status.REJECTED, Status.IN_PROGRESS,
                              Status.COMPLETED, Status.FAILED}),
    Actor.AGENCY: frozenset({Status.CANCELLED}),
}
TERMINAL = frozenset(s for s, nexts in TRANSITIONS.items() if not nexts)

# Why a referral ended without being completed (reported to casework and in the history).
REASON_CODES: dict[Status, frozenset[str]] = {
    Status.REJECTED: frozenset({"not_eligible", "at_capacity", "service_not_offered", "outside_service_area",
                                "other"}),
    Status.CANCELLED: frozenset({"participant_declined", "need_met_elsewhere", "case_closed",
                                 "entered_in_error", "consent_revoked", "other"}),
    Status.FAILED: frozenset({"participant_unreachable", "participant_no_show", "participant_withdrew",
                              "other"}),
}
ALL_REASON_CODES = frozenset().union(*REASON_CODES.values())

# Information categories every referral discloses (name and how to reach the person), whatever
# else the case manager shares: the consent must cover them.
ALWAYS_DISCLOSED = frozenset({"contact_info"})
# Fields of a referral a partner sees; never charges, history, case numbers or consent details.
PARTNER_FIELDS = (
    "id", "service_id", "organization_id", "status", "reason_code", "participant_name", "phone", "email",
    "preferred_language", "need", "need_category", "appointment_preference", "redisclosure_notice",
    "requested_at", "respond_by", "updated_at", "version",
)


class InvalidTransition(Exception):
    """The referral cannot go to that status from where it is, or not by this caller."""

    def __init__(self, current: Status, target: str, allowed: list[str]) -> None:
        self.problem_extra = {"allowed": allowed, "current_status": current.value}
        super().__init__(
            f"a referral that is {current.value} cannot become {target} by this caller; "
            f"allowed: {', '.join(allowed) or 'nothing (it is closed)'}"
        )


class ReasonCodeRequired(ValueError):
    """Rejected, cancelled and failed need a reason code from the list for that status."""

    def __init__(self, status: Status) -> None:
        self.problem_extra = {"allowed": sorted(REASON_CODES.get(status, ()))}
        codes = ", ".join(sorted(REASON_CODES.get(status, ()))) or "none"
        super().__init__(f"{status.value} needs a reason_code, one of: {codes}")


class ServiceNotAccepting(Exception):
    """Only an active service that is not closed takes referrals."""

    def __init__(self, status: str) -> None:
        super().__init__(f"the service is {status if status != 'active' else 'closed'} and takes no referrals")


# Who acts as the referring agency (everyone else who may read a referral is the partner).
AGENCY_ROLES = frozenset({"case_manager", "supervisor", "admin", "records_officer"})  # the agency's readers too


def actor_of(roles: Iterable[str]) -> Actor:
    """The referring agency's staff act as the agency; anyone else (a partner login) as the partner."""
    return Actor.AGENCY if AGENCY_ROLES & set(roles) else Actor.PARTNER


def check_accepting(status: str, capacity: str) -> None:
    """A service must be active, and not closed, to take referrals (ServiceNotAccepting otherwise)."""
    if status != "active" or capacity == "closed":
        raise ServiceNotAccepting(status)


@dataclass(frozen=True)
class ConsentAnswer:
    """What casework answered to "does a consent cover this referral?"."""

    consent_id: str | None
    reason: str = ""
    notice: str = ""

    @property
    def covered(self) -> bool:
        return self.consent_id is not None


def read_consent_answer(answer: Any) -> ConsentAnswer:
    """Covered only when the answer says so and names the consent; anything else is not covered."""
    if not isinstance(answer, dict):
        return ConsentAnswer(None, "invalid answer")
    if not answer.get("covered") or not answer.get("consent_id"):
        return ConsentAnswer(None, str(answer.get("reason", "")))
    return ConsentAnswer(str(answer["consent_id"]), notice=str(answer.get("notice") or ""))


def allowed_next(current: Status, actor: Actor) -> list[str]:
    return sorted(s.value for s in TRANSITIONS[current] & SET_BY[actor])


def check_transition(current: Status, target: str, actor: Actor, reason_code: str | None) -> Status:
    """The new status, or InvalidTransition / ReasonCodeRequired."""
    allowed = allowed_next(current, actor)
    if target not in allowed:
        raise InvalidTransition(current, target, allowed)
    status = Status(target)
    codes = REASON_CODES.get(status)
    if codes is not None and reason_code not in codes:
        raise ReasonCodeRequired(status)
    if codes is None and reason_code is not None and reason_code not in ALL_REASON_CODES:
        raise ReasonCodeRequired(status)
    return status


def disclosed_categories(requested: list[str]) -> list[str]:
    return sorted(set(requested) | ALWAYS_DISCLOSED)


def sla_hours(service_hours: float | None, default_hours: float) -> float:
    """The service's own SLA when it has one, else the directory's default."""
    return service_hours if service_hours is not None else default_hours


def respond_by(requested_at: dt.datetime, sla_hours: float) -> dt.datetime:
    """When a still-`requested` referral escalates."""
    return requested_at + dt.timedelta(hours=sla_hours)
