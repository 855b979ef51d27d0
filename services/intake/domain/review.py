"""The screening desk's review queue: what awaits a screener's judgement, and the judgement itself.

A referral is in the queue while it has a reason to be looked at by a person: a program whose screening
needs a screener's judgement (a `needs_review` criterion), a possible duplicate of another referral, a
deferral whose date has come, or an eligibility date (`eligible_on`) that has arrived. A judgement on a
program never rewrites a screening: it makes a new one (the history keeps both), in which that program's
`needs_review` criteria are settled by the screener, with their reason.

Pure rules: no I/O; the service layer stores what these functions return.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Literal

from .criteria import CriterionResult, CriterionStatus, trusted
from .decisions import Actor, DecisionNotPermitted, InvalidDecision, ReferralStatus
from .screening import ProgramScreening, Screening, ScreeningStatus, program_result, recommend

JUDGING_ROLES = frozenset({"screener", "supervisor"})
JUDGEMENT_CRITERION = "screener_judgement"
MAX_REASON = 500


class ReviewReason(StrEnum):
    NEEDS_JUDGEMENT = "needs_judgement"  # a program awaits a screener's judgement
    POSSIBLE_DUPLICATE = "possible_duplicate"  # same person or case number as another referral
    DEFERRAL_ENDED = "deferral_ended"  # a deferred referral whose date has come
    ELIGIBLE_ON_REACHED = "eligible_on_reached"  # time alone stood in the way, and the day has come


# The order reasons are listed in, everywhere (stored, shown, in events).
ORDER = tuple(ReviewReason)
QUEUE_STATUSES = frozenset({ReferralStatus.SCREENED})


class NothingToJudge(InvalidDecision):
    """The program does not await a judgement in the referral's current screening (or the duplicate flag is
    not raised)."""


def pending_programs(screening: Screening) -> list[str]:
    """The programs whose verdict waits on a screener (never hidden behind an overall "eligible")."""
    return [p.program for p in screening.programs if p.status is ScreeningStatus.NEEDS_REVIEW]


def earliest_eligible_on(screening: Screening) -> date | None:
    """The first day on which time alone makes another program eligible (None when no such day)."""
    days = [p.eligible_on for p in screening.programs if p.eligible_on is not None]
    return min(days) if days else None


def reasons_after_screening(screening: Screening, *, possible_duplicate: bool,
                            carried: frozenset[ReviewReason] = frozenset()) -> list[ReviewReason]:
    """Why the referral is in the queue after a (new) screening; `carried` keeps reasons a screening does not
    settle (a deferral that came back, a duplicate not yet reviewed)."""
    reasons = set(carried) - {ReviewReason.NEEDS_JUDGEMENT}
    if pending_programs(screening):
        reasons.add(ReviewReason.NEEDS_JUDGEMENT)
    if possible_duplicate:
        reasons.add(ReviewReason.POSSIBLE_DUPLICATE)
    return [reason for reason in ORDER if reason in reasons]


def judge_program(screening: Screening, program: str, outcome: Literal["eligible", "ineligible"], reason: str,
                  actor: Actor, today: date) -> Screening:
    """A new screening in which the screener's judgement settles every `needs_review` criterion of `program`.

    "eligible" marks them met; "ineligible" marks them not met. Other programs and criteria are unchanged, the
    recommendation is worked out again, and the screening date is the day of the judgement.
    """
    _check_judge(actor)
    reason = _clean_reason(reason)
    current = screening.program(program)
    if current is None:
        raise NothingToJudge(f"program {program!r} was not part of this referral's screening")
    if current.status is not ScreeningStatus.NEEDS_REVIEW:
        raise NothingToJudge(f"program {program!r} is {current.status}; nothing awaits a judgement")
    settled = CriterionStatus.MET if outcome == "eligible" else CriterionStatus.NOT_MET
    criteria = [
        _settle(criterion, settled, reason, actor.subject) if criterion.status is CriterionStatus.NEEDS_REVIEW
        else criterion
        for criterion in current.criteria
    ]
    judged = program_result(program, criteria)
    programs: list[ProgramScreening] = [judged if p.program == program else p for p in screening.programs]
    return trusted(Screening, {
        "agency": screening.agency, "ruleset_version": screening.ruleset_version,
        "ruleset_hash": screening.ruleset_hash, "screened_on": today, "offense_date": screening.offense_date,
        "recommendation": recommend(programs), "programs": programs,
    })


def review_duplicate(reasons: list[ReviewReason], actor: Actor, reason: str) -> list[ReviewReason]:
    """The screener looked at the possible duplicate: the flag is lowered (the reason goes to the record)."""
    _check_judge(actor)
    _clean_reason(reason)
    if ReviewReason.POSSIBLE_DUPLICATE not in reasons:
        raise NothingToJudge("this referral is not flagged as a possible duplicate")
    return [r for r in reasons if r is not ReviewReason.POSSIBLE_DUPLICATE]


def due_back(status: ReferralStatus, *, deferred_until: date | None, eligible_on: date | None,
             today: date) -> list[ReviewReason]:
    """Which dates have come for a referral (empty: nothing to do today)."""
    due: list[ReviewReason] = []
    if status is ReferralStatus.DEFERRED and deferred_until is not None and deferred_until <= today:
        due.append(ReviewReason.DEFERRAL_ENDED)
    if status in (ReferralStatus.SCREENED, ReferralStatus.DEFERRED) and eligible_on is not None \
            and eligible_on <= today:
        due.append(ReviewReason.ELIGIBLE_ON_REACHED)
    return due


def parse_reasons(column: str | None) -> list[ReviewReason]:
    known = {r.value: r for r in ReviewReason}
    return [known[part] for part in (column or "").split(",") if part in known]


def reasons_column(reasons: list[ReviewReason]) -> str:
    ordered = [reason for reason in ORDER if reason in set(reasons)]
    return "," + "".join(f"{r.value}," for r in ordered) if ordered else ""


def _settle(criterion: CriterionResult, status: CriterionStatus, reason: str, judged_by: str) -> CriterionResult:
    return CriterionResult(
        criterion=criterion.criterion,
        status=status,
        reason=f"screener's judgement: {reason}"[:MAX_REASON],
        evidence={**criterion.evidence, "judged_by": judged_by, "was": criterion.reason},
    )


def _check_judge(actor: Actor) -> None:
    if not actor.roles & JUDGING_ROLES:
        raise DecisionNotPermitted(f"a judgement needs the role {' or '.join(sorted(JUDGING_ROLES))}")


def _clean_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise InvalidDecision("a judgement needs a reason")
    if len(reason) > MAX_REASON - len("screener's judgement: "):
        raise InvalidDecision(f"a judgement's reason is at most {MAX_REASON - 22} characters")
    return reason
