"""The prosecutor's decision on a screened referral (accept, decline, defer, override) and its status rules.

Pure rules: each function checks a decision against the referral's status, its screening and the agency's
ruleset, and returns the `Decision` to record or raises a typed error that says what is missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from .ruleset import Ruleset
from .screening import Screening, ScreeningStatus


class ReferralStatus(StrEnum):
    SCREENED = "screened"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    DEFERRED = "deferred"
    DISPOSED = "disposed"  # accepted, then closed by the case's outcome
    WITHDRAWN = "withdrawn"  # accepted, then the case was withdrawn before it could run (back to the prosecutor)


class Disposition(StrEnum):
    DISMISSAL = "dismissal"
    ONE_DAY_PROBATION = "one_day_probation"
    RETURNED_TO_PROSECUTION = "returned_to_prosecution"


class DecisionKind(StrEnum):
    ACCEPT = "accept"
    DECLINE = "decline"
    DEFER = "defer"


TRANSITIONS: dict[ReferralStatus, frozenset[ReferralStatus]] = {
    ReferralStatus.SCREENED: frozenset({ReferralStatus.ACCEPTED, ReferralStatus.DECLINED, ReferralStatus.DEFERRED}),
    # A deferred referral whose date has come goes back to the screening desk (SCREENED, in the review queue).
    ReferralStatus.DEFERRED: frozenset({ReferralStatus.ACCEPTED, ReferralStatus.DECLINED, ReferralStatus.DEFERRED,
                                        ReferralStatus.SCREENED}),
    ReferralStatus.ACCEPTED: frozenset({ReferralStatus.DISPOSED, ReferralStatus.WITHDRAWN}),
    ReferralStatus.DECLINED: frozenset(),
    ReferralStatus.DISPOSED: frozenset(),
    ReferralStatus.WITHDRAWN: frozenset(),
}

DECIDING_ROLES = frozenset({"screener", "supervisor"})
OVERRIDE_ROLE = "supervisor"
MAX_NOTE = 2000


class DecisionError(Exception):
    """Base of the decision rule errors."""


class InvalidTransition(DecisionError):
    """The referral's status does not allow this step (e.g. declining an accepted referral)."""


class InvalidDecision(DecisionError):
    """The decision itself is malformed: unknown program, past deferral date, missing note..."""


class UnknownReasonCode(InvalidDecision):
    """The reason code is not one of the agency pack's codes."""


class DecisionNotPermitted(DecisionError):
    """The actor's roles do not allow deciding on referrals."""


class OverrideRequired(DecisionError):
    """The program is not eligible for this referral: accepting it needs a supervisor's override."""


class OverrideNotPermitted(DecisionError):
    """Only a supervisor may override the screening."""


@dataclass(frozen=True)
class Actor:
    """Who decides: the verified token's subject and roles."""

    subject: str
    roles: frozenset[str]


Note = Annotated[str, Field(max_length=MAX_NOTE)]


class Override(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    reason_code: Annotated[str, Field(min_length=1, max_length=64)]
    note: Note


class Decision(BaseModel):
    """What to record: the decision, the status it leads to and why."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: DecisionKind
    status: ReferralStatus
    decided_by: str
    program: str | None = None
    reason_code: str | None = None
    note: str | None = None
    override: bool = False
    deferred_until: date | None = None
    ruleset_version: str | None = None


def check_transition(current: ReferralStatus, target: ReferralStatus) -> None:
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "nothing (final)"
        raise InvalidTransition(f"a {current} referral cannot become {target} (allowed: {allowed})")


def accept(
    *,
    status: ReferralStatus,
    screening: Screening,
    ruleset: Ruleset,
    program: str,
    actor: Actor,
    note: str | None = None,
    override: Override | None = None,
) -> Decision:
    """Accept into a program: an eligible one, or any screened one with a supervisor's override."""
    check_transition(status, ReferralStatus.ACCEPTED)
    _check_decider(actor)
    if ruleset.program(program) is None:
        raise InvalidDecision(f"program {program!r} is not one of {ruleset.agency}'s programs")
    result = screening.program(program)
    if result is None:
        raise InvalidDecision(f"program {program!r} was not part of this referral's screening; screen it again")
    note = _clean_note(note)
    if result.status is ScreeningStatus.ELIGIBLE:
        # An override on an eligible program changes nothing: accept it as it is.
        return Decision(
            kind=DecisionKind.ACCEPT,
            status=ReferralStatus.ACCEPTED,
            decided_by=actor.subject,
            program=program,
            note=note or (_clean_note(override.note) if override else None),
            ruleset_version=screening.ruleset_version,
        )
    if override is None:
        raise OverrideRequired(
            f"program {program!r} is {result.status} for this referral; accepting it needs a supervisor "
            "override with a reason code and a note"
        )
    if OVERRIDE_ROLE not in actor.roles:
        raise OverrideNotPermitted(f"only a {OVERRIDE_ROLE} may override the screening")
    if override.reason_code not in ruleset.override_reasons:
        raise UnknownReasonCode(
            f"override reason {override.reason_code!r} is not one of: {', '.join(ruleset.override_reasons)}"
        )
    override_note = _clean_note(override.note)
    if override_note is None:
        raise InvalidDecision("an override needs a note explaining it")
    return Decision(
        kind=DecisionKind.ACCEPT,
        status=ReferralStatus.ACCEPTED,
        decided_by=actor.subject,
        program=program,
        reason_code=override.reason_code,
        note=override_note,
        override=True,
        ruleset_version=screening.ruleset_version,
    )


def decline(
    *, status: ReferralStatus, ruleset: Ruleset, reason_code: str, actor: Actor, note: str | None = None
) -> Decision:
    """Decline the referral with one of the agency's decline reason codes."""
    check_transition(status, ReferralStatus.DECLINED)
    _check_decider(actor)
    if reason_code not in ruleset.decline_reasons:
        raise UnknownReasonCode(f"decline reason {reason_code!r} is not one of: {', '.join(ruleset.decline_reasons)}")
    return Decision(
        kind=DecisionKind.DECLINE,
        status=ReferralStatus.DECLINED,
        decided_by=actor.subject,
        reason_code=reason_code,
        note=_clean_note(note),
        ruleset_version=ruleset.version,
    )


def defer(*, status: ReferralStatus, ruleset: Ruleset, until: date, reason_code: str, today: date, actor: Actor,
          note: str | None = None) -> Decision:
    """Put the decision off until a future date (e.g. the screening's eligible_on), for one of the pack's
    deferral reasons; the referral comes back to the review queue on that date."""
    check_transition(status, ReferralStatus.DEFERRED)
    _check_decider(actor)
    if until <= today:
        raise InvalidDecision(f"a deferral date must be after today ({today}); got {until}")
    if reason_code not in ruleset.deferral_reasons:
        raise UnknownReasonCode(
            f"deferral reason {reason_code!r} is not one of: {', '.join(ruleset.deferral_reasons)}"
        )
    return Decision(
        kind=DecisionKind.DEFER,
        status=ReferralStatus.DEFERRED,
        decided_by=actor.subject,
        reason_code=reason_code,
        deferred_until=until,
        note=_clean_note(note),
        ruleset_version=ruleset.version,
    )


def return_for_review(status: ReferralStatus) -> ReferralStatus:
    """A deferral's date has come: the referral is screened again and waits for a decision."""
    if status is ReferralStatus.DEFERRED:
        check_transition(status, ReferralStatus.SCREENED)
    elif status is not ReferralStatus.SCREENED:
        raise InvalidTransition(f"a {status} referral is decided; it does not come back for review")
    return ReferralStatus.SCREENED


def withdraw(status: ReferralStatus) -> ReferralStatus:
    """The case opened for an accepted referral was withdrawn: the referral goes back to the prosecutor."""
    check_transition(status, ReferralStatus.WITHDRAWN)
    return ReferralStatus.WITHDRAWN


def dispose(status: ReferralStatus, disposition: Disposition | str) -> Disposition:
    """Close an accepted referral with its case's outcome; returns the checked disposition."""
    check_transition(status, ReferralStatus.DISPOSED)
    try:
        return Disposition(disposition)
    except ValueError:
        choices = ", ".join(d.value for d in Disposition)
        raise InvalidDecision(f"disposition {disposition!r} is not one of: {choices}") from None


def _check_decider(actor: Actor) -> None:
    if not actor.roles & DECIDING_ROLES:
        raise DecisionNotPermitted(f"deciding on a referral needs the role {' or '.join(sorted(DECIDING_ROLES))}")


def _clean_note(note: str | None) -> str | None:
    if note is None:
        return None
    note = note.strip()
    if len(note) > MAX_NOTE:
        raise InvalidDecision(f"a note is at most {MAX_NOTE} characters")
    return note or None
