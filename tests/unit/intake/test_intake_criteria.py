"""Built-in criteria at their boundaries, each with a reason a screener can read."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from intake_builders import MakeReferral, charge
from pydantic import ValidationError

from services.intake.domain.criteria import (
    AgeRange,
    CriterionResult,
    CriterionStatus,
    FelonyCharge,
    ManualReview,
    NonViolent,
    OffenseLists,
    PriorConvictions,
    PriorDiversion,
    ScreeningContext,
    TimeSinceConviction,
    load_criteria,
)
from services.intake.domain.referral import Referral
from services.intake.domain.ruleset import Ruleset

TODAY = date(2026, 11, 28)
MET, NOT_MET, REVIEW = CriterionStatus.MET, CriterionStatus.NOT_MET, CriterionStatus.NEEDS_REVIEW


def run(criterion: Any, referral: Referral, offenses: OffenseLists | None = None, **params: Any) -> CriterionResult:
    context = ScreeningContext(today=TODAY, offense_date=referral.offense_date, offenses=offenses or OffenseLists())
    return criterion().evaluate(referral, criterion.Params(**params), context)


def conviction(on: str, offense_class: str = "misdemeanor_a") -> dict[str, Any]:
    return {"date": on, "offense_class": offense_class, "violent": False}


# --- age_range


def test_young_adult_the_day_before_the_26th_birthday_is_met(make_referral: MakeReferral) -> None:
    referral = make_referral(dob="2000-10-01", charges=[charge(offense_date="2026-09-30")])
    result = run(AgeRange, referral, min_age=18, max_age=25)
    assert result.status is MET
    assert result.reason == "25 on the offense date (18-25)"
    assert result.evidence["age"] == 25


def test_young_adult_on_the_26th_birthday_is_not_met(make_referral: MakeReferral) -> None:
    referral = make_referral(dob="2000-10-01", charges=[charge(offense_date="2026-10-01")])
    result = run(AgeRange, referral, min_age=18, max_age=25)
    assert result.status is NOT_MET
    assert result.reason == "26 on the offense date (18-25)"


def test_the_18th_birthday_is_met_and_the_day_before_is_not(make_referral: MakeReferral) -> None:
    on_birthday = make_referral(dob="2008-10-01", charges=[charge(offense_date="2026-10-01")])
    day_before = make_referral(dob="2008-10-02", charges=[charge(offense_date="2026-10-01")])
    assert run(AgeRange, on_birthday, min_age=18, max_age=25).status is MET
    assert run(AgeRange, day_before, min_age=18, max_age=25).status is NOT_MET


def test_age_is_measured_on_the_earliest_offense_date(make_referral: MakeReferral) -> None:
    referral = make_referral(
        dob="2000-10-01", charges=[charge(offense_date="2026-10-05"), charge(offense_date="2026-09-30")]
    )
    assert run(AgeRange, referral, min_age=18, max_age=25).status is MET


def test_age_range_params_must_make_a_range() -> None:
    with pytest.raises(ValidationError, match="min_age 30 is above max_age 25"):
        AgeRange.Params(min_age=30, max_age=25)
    with pytest.raises(ValidationError, match="set min_age, max_age or both"):
        AgeRange.Params()


# --- time_since_conviction


def test_conviction_exactly_five_years_before_the_offense_is_not_met(make_referral: MakeReferral) -> None:
    referral = make_referral(convictions=[conviction("2021-10-01")])
    result = run(TimeSinceConviction, referral, years=5)
    assert result.status is NOT_MET
    assert result.eligible_on == date(2026, 10, 2)
    assert "within 5 years" in result.reason and "2026-10-02" in result.reason


def test_conviction_five_years_and_a_day_before_the_offense_is_met(make_referral: MakeReferral) -> None:
    referral = make_referral(convictions=[conviction("2021-09-30")])
    result = run(TimeSinceConviction, referral, years=5)
    assert result.status is MET
    assert result.eligible_on is None


def test_the_latest_conviction_decides_the_eligible_date(make_referral: MakeReferral) -> None:
    referral = make_referral(convictions=[conviction("2010-01-01"), conviction("2022-03-15", "felony_e")])
    result = run(TimeSinceConviction, referral, years=5)
    assert result.status is NOT_MET
    assert result.eligible_on == date(2027, 3, 16)
    assert result.evidence["last_conviction"] == "2022-03-15"


def test_no_convictions_meets_time_since_conviction(make_referral: MakeReferral) -> None:
    assert run(TimeSinceConviction, make_referral(), years=5).reason == "no prior convictions"


def test_time_can_be_measured_to_the_screening_date(make_referral: MakeReferral) -> None:
    # 2021-11-20 is within five years of the offense (2026-10-01) but more than five before 2026-11-28.
    referral = make_referral(convictions=[conviction("2021-11-20")])
    assert run(TimeSinceConviction, referral, years=5).status is NOT_MET
    assert run(TimeSinceConviction, referral, years=5, measured_from="screening_date").status is MET


# --- prior_convictions


def test_two_misdemeanors_and_no_felony_is_limited_history(make_referral: MakeReferral) -> None:
    referral = make_referral(
        convictions=[
            conviction("2015-01-01"),
            conviction("2016-01-01"),
            conviction("2017-01-01", "infraction"),
        ]
    )
    result = run(PriorConvictions, referral, max_felonies=0, max_misdemeanors=2)
    assert result.status is MET
    assert result.reason == "0 prior felony convictions (max 0), 2 prior misdemeanor convictions (max 2)"


def test_a_third_misdemeanor_or_any_felony_is_too_much_history(make_referral: MakeReferral) -> None:
    three = make_referral(convictions=[conviction("2015-01-01")] * 3)
    felony = make_referral(convictions=[conviction("2015-01-01", "felony_e")])
    assert run(PriorConvictions, three, max_felonies=0, max_misdemeanors=2).status is NOT_MET
    result = run(PriorConvictions, felony, max_felonies=0, max_misdemeanors=2)
    assert result.status is NOT_MET
    assert "1 prior felony conviction (max 0)" in result.reason


# --- prior_diversion


def test_no_prior_diversion_is_a_first_diversion(make_referral: MakeReferral) -> None:
    assert run(PriorDiversion, make_referral()).status is MET


def test_a_prior_diversion_is_not_a_first_diversion(make_referral: MakeReferral) -> None:
    referral = make_referral(diversions=[{"date": "2018-05-01", "outcome": "completed"}])
    result = run(PriorDiversion, referral)
    assert result.status is NOT_MET
    assert result.reason == "1 prior diversion (2018-05-01 completed); none allowed"


def test_prior_diversion_can_count_only_some_outcomes(make_referral: MakeReferral) -> None:
    referral = make_referral(diversions=[{"date": "2018-05-01", "outcome": "withdrawn"}])
    assert run(PriorDiversion, referral, outcomes=["completed", "terminated"]).status is MET


# --- non_violent


def test_charge_marked_violent_is_not_met(make_referral: MakeReferral, stl: Ruleset) -> None:
    referral = make_referral(charges=[charge("570.030", violent=True)])
    result = run(NonViolent, referral, stl.offenses)
    assert result.status is NOT_MET
    assert "marked violent on the referral" in result.reason


def test_statute_on_the_violent_list_is_not_met(make_referral: MakeReferral, stl: Ruleset) -> None:
    referral = make_referral(charges=[charge(), charge("565.050.1", "felony_a", description="Assault 1st")])
    result = run(NonViolent, referral, stl.offenses)
    assert result.status is NOT_MET
    assert result.reason == "violent charge: 565.050.1 Assault 1st (on the agency's violent offense list)"


def test_statute_on_the_non_violent_list_is_met(make_referral: MakeReferral, stl: Ruleset) -> None:
    result = run(NonViolent, make_referral(charges=[charge("579.015")]), stl.offenses)
    assert result.status is MET
    assert result.evidence["charges"] == [
        {"statute": "579.015", "violent": False, "basis": "agency list", "listed_as": "579.015"}
    ]


def test_unknown_statute_needs_review_instead_of_a_guess(make_referral: MakeReferral, stl: Ruleset) -> None:
    result = run(NonViolent, make_referral(charges=[charge("571.030")]), stl.offenses)
    assert result.status is REVIEW
    assert "571.030 is on neither" in result.reason


def test_non_violent_flag_on_a_listed_violent_statute_needs_review(make_referral: MakeReferral, stl: Ruleset) -> None:
    result = run(NonViolent, make_referral(charges=[charge("569.020", violent=False)]), stl.offenses)
    assert result.status is REVIEW


# --- felony_charge and manual_review


def test_misdemeanor_only_referral_has_no_felony_charge(make_referral: MakeReferral) -> None:
    result = run(FelonyCharge, make_referral(charges=[charge(offense_class="misdemeanor_a")]))
    assert result.status is NOT_MET
    assert result.reason == "no felony charge"


def test_felony_charge_names_the_charge(make_referral: MakeReferral) -> None:
    result = run(FelonyCharge, make_referral())
    assert result.status is MET
    assert result.reason == "felony charge: 570.030 Stealing (class D felony)"


def test_felony_charge_can_be_limited_to_classes(make_referral: MakeReferral) -> None:
    referral = make_referral(charges=[charge(offense_class="felony_a")])
    assert run(FelonyCharge, referral, classes=["felony_c", "felony_d", "felony_e"]).status is NOT_MET
    with pytest.raises(ValidationError, match="not felony classes: misdemeanor_a"):
        FelonyCharge.Params(classes=["misdemeanor_a"])


def test_manual_review_always_needs_a_screener(make_referral: MakeReferral) -> None:
    result = run(ManualReview, make_referral())
    assert result.status is REVIEW
    assert result.reason == "a screener's judgement"


def test_all_built_in_criteria_are_found_through_entry_points() -> None:
    assert set(load_criteria()) >= {
        "felony_charge",
        "non_violent",
        "age_range",
        "prior_convictions",
        "time_since_conviction",
        "prior_diversion",
        "manual_review",
    }
    assert set(load_criteria(use_entry_points=False)) == set(load_criteria())
