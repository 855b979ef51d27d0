"""The screening desk's rules: pending judgements are never hidden, a judgement makes a new screening, dates
that come back, and the queue's reasons."""

from __future__ import annotations

from datetime import date

import pytest
from intake_builders import MakeReferral

from services.intake.domain.decisions import Actor, DecisionNotPermitted, InvalidDecision, ReferralStatus
from services.intake.domain.review import (
    NothingToJudge,
    ReviewReason,
    due_back,
    judge_program,
    parse_reasons,
    pending_programs,
    reasons_after_screening,
    reasons_column,
    review_duplicate,
)
from services.intake.domain.ruleset import Ruleset
from services.intake.domain.screening import ScreeningStatus, screen

TODAY = date(2026, 11, 28)
SCREENER = Actor(subject="screener-1", roles=frozenset({"screener"}))
CASE_MANAGER = Actor(subject="cm-1", roles=frozenset({"case_manager"}))


def test_an_eligible_referral_still_shows_the_program_awaiting_a_judgement(make_referral: MakeReferral,
                                                                          stl: Ruleset) -> None:
    screening = screen(make_referral(), stl, today=TODAY)
    assert screening.recommendation is ScreeningStatus.ELIGIBLE
    assert pending_programs(screening) == ["second-chance"]
    assert reasons_after_screening(screening, possible_duplicate=False) == [ReviewReason.NEEDS_JUDGEMENT]


def test_a_judgement_settles_the_programs_review_criteria_in_a_new_screening(make_referral: MakeReferral,
                                                                             stl: Ruleset) -> None:
    before = screen(make_referral(), stl, today=TODAY)
    after = judge_program(before, "second-chance", "eligible", "strong family support", SCREENER, date(2026, 12, 1))
    judged = after.program("second-chance")
    assert judged is not None and judged.status is ScreeningStatus.ELIGIBLE
    [criterion] = [c for c in judged.criteria if c.criterion == "manual_review"]
    assert criterion.status.value == "met"
    assert criterion.reason == "screener's judgement: strong family support"
    assert criterion.evidence["judged_by"] == "screener-1"
    assert pending_programs(after) == [] and after.screened_on == date(2026, 12, 1)
    # The earlier screening is a value of its own: unchanged.
    assert before.program("second-chance").status is ScreeningStatus.NEEDS_REVIEW  # type: ignore[union-attr]
    assert [p.status for p in after.programs if p.program != "second-chance"] == [
        p.status for p in before.programs if p.program != "second-chance"]


def test_a_judgement_of_ineligible_and_the_recommendation_follows(make_referral: MakeReferral, stl: Ruleset) -> None:
    # 40 years old, one prior diversion: only second-chance could take them, and it awaits a judgement.
    referral = make_referral(dob="1986-01-01", diversions=[{"date": "2020-01-01", "outcome": "completed"}],
                             convictions=[{"date": "2024-06-01", "offense_class": "felony_c"}])
    before = screen(referral, stl, today=TODAY)
    assert before.recommendation is ScreeningStatus.NEEDS_REVIEW
    after = judge_program(before, "second-chance", "ineligible", "recent felony", SCREENER, TODAY)
    assert after.recommendation is ScreeningStatus.INELIGIBLE


def test_only_a_program_awaiting_judgement_can_be_judged_and_only_by_a_screener(make_referral: MakeReferral,
                                                                               stl: Ruleset) -> None:
    screening = screen(make_referral(), stl, today=TODAY)
    with pytest.raises(NothingToJudge, match="young-adult' is eligible"):
        judge_program(screening, "young-adult", "eligible", "x", SCREENER, TODAY)
    with pytest.raises(NothingToJudge, match="not part of"):
        judge_program(screening, "nope", "eligible", "x", SCREENER, TODAY)
    with pytest.raises(DecisionNotPermitted):
        judge_program(screening, "second-chance", "eligible", "x", CASE_MANAGER, TODAY)
    with pytest.raises(InvalidDecision, match="needs a reason"):
        judge_program(screening, "second-chance", "eligible", "   ", SCREENER, TODAY)


def test_a_duplicate_review_lowers_the_flag_and_only_when_raised() -> None:
    reasons = [ReviewReason.NEEDS_JUDGEMENT, ReviewReason.POSSIBLE_DUPLICATE]
    assert review_duplicate(reasons, SCREENER, "different person, same name") == [ReviewReason.NEEDS_JUDGEMENT]
    with pytest.raises(NothingToJudge):
        review_duplicate([ReviewReason.NEEDS_JUDGEMENT], SCREENER, "x")


@pytest.mark.parametrize(
    ("status", "deferred_until", "eligible_on", "expected"),
    [
        (ReferralStatus.DEFERRED, date(2026, 11, 28), None, [ReviewReason.DEFERRAL_ENDED]),
        (ReferralStatus.DEFERRED, date(2026, 11, 29), None, []),
        (ReferralStatus.SCREENED, None, date(2026, 11, 1), [ReviewReason.ELIGIBLE_ON_REACHED]),
        (ReferralStatus.DEFERRED, date(2027, 1, 1), date(2026, 11, 28), [ReviewReason.ELIGIBLE_ON_REACHED]),
        (ReferralStatus.ACCEPTED, None, date(2026, 11, 1), []),
        (ReferralStatus.DECLINED, date(2026, 1, 1), None, []),
    ],
)
def test_which_dates_have_come(status: ReferralStatus, deferred_until: date | None, eligible_on: date | None,
                               expected: list[ReviewReason]) -> None:
    assert due_back(status, deferred_until=deferred_until, eligible_on=eligible_on, today=TODAY) == expected


def test_reasons_round_trip_in_a_fixed_order() -> None:
    column = reasons_column([ReviewReason.DEFERRAL_ENDED, ReviewReason.NEEDS_JUDGEMENT])
    assert column == ",needs_judgement,deferral_ended,"
    assert parse_reasons(column) == [ReviewReason.NEEDS_JUDGEMENT, ReviewReason.DEFERRAL_ENDED]
    assert reasons_column([]) == "" and parse_reasons("") == []
