"""The prosecutor's decision: accept only an eligible program unless a supervisor overrides, and the status
rules around it."""

from __future__ import annotations

from datetime import date

import pytest
from intake_builders import MakeReferral, charge

from services.intake.domain.decisions import (
    Actor,
    DecisionKind,
    DecisionNotPermitted,
    Disposition,
    InvalidDecision,
    InvalidTransition,
    Override,
    OverrideNotPermitted,
    OverrideRequired,
    ReferralStatus,
    UnknownReasonCode,
    accept,
    decline,
    defer,
    dispose,
)
from services.intake.domain.ruleset import Ruleset
from services.intake.domain.screening import Screening, screen

TODAY = date(2026, 11, 28)
SCREENER = Actor("screener-1", frozenset({"screener"}))
SUPERVISOR = Actor("supervisor-1", frozenset({"supervisor"}))


@pytest.fixture
def eligible(make_referral: MakeReferral, stl: Ruleset) -> Screening:
    return screen(make_referral(dob="2003-04-05"), stl, today=TODAY)


@pytest.fixture
def too_old(make_referral: MakeReferral, stl: Ruleset) -> Screening:
    return screen(make_referral(dob="1980-01-01"), stl, today=TODAY)


def test_screener_accepts_an_eligible_program(eligible: Screening, stl: Ruleset) -> None:
    decision = accept(
        status=ReferralStatus.SCREENED, screening=eligible, ruleset=stl, program="young-adult", actor=SCREENER
    )
    assert decision.kind is DecisionKind.ACCEPT and decision.status is ReferralStatus.ACCEPTED
    assert decision.program == "young-adult" and not decision.override
    assert decision.ruleset_version == "2026.1"


def test_accepting_an_ineligible_program_needs_an_override(too_old: Screening, stl: Ruleset) -> None:
    with pytest.raises(OverrideRequired, match="'young-adult' is ineligible"):
        accept(
            status=ReferralStatus.SCREENED,
            screening=too_old,
            ruleset=stl,
            program="young-adult",
            actor=SCREENER,
        )


def test_a_needs_review_program_also_needs_an_override(eligible: Screening, stl: Ruleset) -> None:
    with pytest.raises(OverrideRequired, match="needs_review"):
        accept(
            status=ReferralStatus.SCREENED,
            screening=eligible,
            ruleset=stl,
            program="second-chance",
            actor=SCREENER,
        )


def test_only_a_supervisor_may_override(too_old: Screening, stl: Ruleset) -> None:
    override = Override(reason_code="prosecutor_discretion", note="victim consulted")
    with pytest.raises(OverrideNotPermitted):
        accept(
            status=ReferralStatus.SCREENED,
            screening=too_old,
            ruleset=stl,
            program="young-adult",
            actor=SCREENER,
            override=override,
        )
    decision = accept(
        status=ReferralStatus.SCREENED,
        screening=too_old,
        ruleset=stl,
        program="young-adult",
        actor=SUPERVISOR,
        override=override,
    )
    assert decision.override and decision.reason_code == "prosecutor_discretion"
    assert decision.note == "victim consulted"


def test_override_needs_a_pack_reason_code_and_a_note(too_old: Screening, stl: Ruleset) -> None:
    common = {
        "status": ReferralStatus.SCREENED,
        "screening": too_old,
        "ruleset": stl,
        "program": "young-adult",
    }
    with pytest.raises(UnknownReasonCode, match="'because'"):
        accept(**common, actor=SUPERVISOR, override=Override(reason_code="because", note="x"))
    with pytest.raises(InvalidDecision, match="needs a note"):
        accept(**common, actor=SUPERVISOR, override=Override(reason_code="prosecutor_discretion", note="   "))


def test_accepting_an_unknown_program_is_refused(eligible: Screening, stl: Ruleset) -> None:
    with pytest.raises(InvalidDecision, match="'night-court' is not one of stl-cao's programs"):
        accept(
            status=ReferralStatus.SCREENED,
            screening=eligible,
            ruleset=stl,
            program="night-court",
            actor=SCREENER,
        )


def test_decline_needs_a_pack_reason_code(stl: Ruleset) -> None:
    decision = decline(status=ReferralStatus.SCREENED, ruleset=stl, reason_code="victim_objection", actor=SCREENER)
    assert decision.status is ReferralStatus.DECLINED
    with pytest.raises(UnknownReasonCode):
        decline(status=ReferralStatus.SCREENED, ruleset=stl, reason_code="dont_like", actor=SCREENER)


def test_defer_until_a_future_date_and_decide_later(stl: Ruleset, eligible: Screening) -> None:
    decision = defer(status=ReferralStatus.SCREENED, ruleset=stl, until=date(2027, 3, 16),
                     reason_code="awaiting_information", today=TODAY, actor=SCREENER)
    assert decision.status is ReferralStatus.DEFERRED and decision.deferred_until == date(2027, 3, 16)
    assert decision.reason_code == "awaiting_information"
    again = defer(status=ReferralStatus.DEFERRED, ruleset=stl, until=date(2027, 4, 1), reason_code="pending_case",
                  today=TODAY, actor=SCREENER)
    assert again.status is ReferralStatus.DEFERRED
    accepted = accept(
        status=ReferralStatus.DEFERRED, screening=eligible, ruleset=stl, program="young-adult", actor=SCREENER
    )
    assert accepted.status is ReferralStatus.ACCEPTED
    with pytest.raises(InvalidDecision, match="must be after today"):
        defer(status=ReferralStatus.SCREENED, ruleset=stl, until=TODAY, reason_code="pending_case", today=TODAY,
              actor=SCREENER)


def test_a_deferral_needs_one_of_the_packs_deferral_reasons(stl: Ruleset) -> None:
    with pytest.raises(UnknownReasonCode, match="deferral reason 'because' is not one of: awaiting_information"):
        defer(status=ReferralStatus.SCREENED, ruleset=stl, until=date(2027, 3, 16), reason_code="because",
              today=TODAY, actor=SCREENER)


def test_decided_referrals_cannot_be_decided_again(stl: Ruleset, eligible: Screening) -> None:
    with pytest.raises(InvalidTransition, match="a declined referral cannot become accepted"):
        accept(
            status=ReferralStatus.DECLINED,
            screening=eligible,
            ruleset=stl,
            program="young-adult",
            actor=SCREENER,
        )
    with pytest.raises(InvalidTransition):
        decline(status=ReferralStatus.ACCEPTED, ruleset=stl, reason_code="not_eligible", actor=SCREENER)


def test_a_case_manager_cannot_decide(stl: Ruleset) -> None:
    with pytest.raises(DecisionNotPermitted):
        decline(
            status=ReferralStatus.SCREENED,
            ruleset=stl,
            reason_code="not_eligible",
            actor=Actor("cm", frozenset({"case_manager"})),
        )


def test_disposition_only_closes_an_accepted_referral() -> None:
    assert dispose(ReferralStatus.ACCEPTED, "one_day_probation") is Disposition.ONE_DAY_PROBATION
    with pytest.raises(InvalidTransition):
        dispose(ReferralStatus.DEFERRED, Disposition.DISMISSAL)
    with pytest.raises(InvalidTransition):
        dispose(ReferralStatus.DISPOSED, Disposition.DISMISSAL)
    with pytest.raises(InvalidDecision, match="not one of"):
        dispose(ReferralStatus.ACCEPTED, "acquittal")


def test_misdemeanor_referral_can_still_be_declined_with_a_reason(make_referral: MakeReferral, stl: Ruleset) -> None:
    screening = screen(make_referral(charges=[charge(offense_class="misdemeanor_b")]), stl, today=TODAY)
    assert screening.recommendation == "ineligible"
    assert (
        decline(status=ReferralStatus.SCREENED, ruleset=stl, reason_code="not_eligible", actor=SCREENER).reason_code
        == "not_eligible"
    )
