"""The screening engine: a referral against every program of an agency's ruleset, with a reason per criterion.

Deterministic (same referral, ruleset and day: same screening) and total: a criterion that raises becomes
needs_review for a screener instead of an error.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from .criteria import CriterionResult, CriterionStatus, ScreeningContext, trusted
from .referral import Referral
from .ruleset import Requirement, Ruleset


class ScreeningStatus(StrEnum):
    ELIGIBLE = "eligible"
    NEEDS_REVIEW = "needs_review"
    INELIGIBLE = "ineligible"


class ProgramScreening(BaseModel):
    """One program's verdict: shared requirements first, then the program's own, each with its reason."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    program: str
    status: ScreeningStatus
    # Set only when time alone stands in the way (every unmet criterion is time-based, nothing awaits review):
    # the latest of those criteria's eligible_on dates.
    eligible_on: date | None = None
    criteria: list[CriterionResult]


class Screening(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    agency: str
    ruleset_version: str
    ruleset_hash: str
    screened_on: date
    offense_date: date
    recommendation: ScreeningStatus
    programs: list[ProgramScreening]

    def program(self, program_id: str) -> ProgramScreening | None:
        return next((p for p in self.programs if p.program == program_id), None)

    @property
    def eligible_programs(self) -> list[str]:
        return [p.program for p in self.programs if p.status is ScreeningStatus.ELIGIBLE]


def screen(referral: Referral, ruleset: Ruleset, today: date | None = None) -> Screening:
    """Screen a validated referral against every program of the ruleset."""
    screened_on = today or date.today()
    context = ScreeningContext(today=screened_on, offense_date=referral.offense_date, offenses=ruleset.offenses)
    # Shared requirements are the same for every program: evaluate them once.
    shared = [_evaluate(req, referral, context) for req in ruleset.shared_requires]
    programs = [
        program_result(program.id, shared + [_evaluate(req, referral, context) for req in program.requires])
        for program in ruleset.programs
    ]
    recommendation = recommend(programs)
    # trusted(): every part was built above from validated inputs; validating again doubled the cost.
    return trusted(
        Screening,
        {
            "agency": ruleset.agency,
            "ruleset_version": ruleset.version,
            "ruleset_hash": ruleset.content_hash,
            "screened_on": screened_on,
            "offense_date": context.offense_date,
            "recommendation": recommendation,
            "programs": programs,
        },
    )


def recommend(programs: list[ProgramScreening]) -> ScreeningStatus:
    """Eligible if any program is; else needs review if any program does; else ineligible."""
    statuses = {p.status for p in programs}
    if ScreeningStatus.ELIGIBLE in statuses:
        return ScreeningStatus.ELIGIBLE
    if ScreeningStatus.NEEDS_REVIEW in statuses:
        return ScreeningStatus.NEEDS_REVIEW
    return ScreeningStatus.INELIGIBLE


def program_result(program_id: str, results: list[CriterionResult]) -> ProgramScreening:
    """One program's status from its criteria: any unmet is ineligible, else any awaiting review needs review."""
    not_met = [r for r in results if r.status is CriterionStatus.NOT_MET]
    review = any(r.status is CriterionStatus.NEEDS_REVIEW for r in results)
    eligible_on = None
    if not_met:
        status = ScreeningStatus.INELIGIBLE
        if not review and all(r.eligible_on is not None for r in not_met):
            eligible_on = max(r.eligible_on for r in not_met if r.eligible_on is not None)
    elif review:
        status = ScreeningStatus.NEEDS_REVIEW
    else:
        status = ScreeningStatus.ELIGIBLE
    return trusted(
        ProgramScreening,
        {"program": program_id, "status": status, "eligible_on": eligible_on, "criteria": results},
    )


def _evaluate(requirement: Requirement, referral: Referral, context: ScreeningContext) -> CriterionResult:
    try:
        result = requirement.evaluate(referral, context)
    except Exception as exc:  # noqa: BLE001 - a plugin's bug must not stop the screening of everyone else's criteria
        return CriterionResult(
            criterion=requirement.criterion,
            status=CriterionStatus.NEEDS_REVIEW,
            reason=f"{requirement.criterion} could not be evaluated ({type(exc).__name__}); check it by hand",
            evidence={"error": type(exc).__name__},
        )
    if not isinstance(result, CriterionResult):
        return CriterionResult(
            criterion=requirement.criterion,
            status=CriterionStatus.NEEDS_REVIEW,
            reason=f"{requirement.criterion} returned no result; check it by hand",
        )
    updates: dict[str, object] = {}
    if result.criterion != requirement.criterion:
        updates["criterion"] = requirement.criterion  # the pack's key is what screeners and reports see
    if result.eligible_on is not None and result.status is not CriterionStatus.NOT_MET:
        updates["eligible_on"] = None  # only an unmet criterion can name the day it becomes met
    return result.model_copy(update=updates) if updates else result
