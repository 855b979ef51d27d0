"""Conditions that count (domain only): ledgers, derived balances, what is unmet, waivers and edits."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from services.casework.domain import conditions as rules
from services.casework.domain.lifecycle import Actor, OverrideNotPermitted
from services.casework.domain.supervision import Condition, ConditionKind, ConditionProgressError, MakeWholeUnit

TODAY = date(2026, 6, 15)
SUPERVISOR = Actor(subject="sup-1", roles=frozenset({"supervisor"}))
MANAGER = Actor(subject="cm-1", roles=frozenset({"case_manager"}))


def restitution(amount: str = "300") -> Condition:
    return Condition(id="c-money", case_id="case-1", kind=ConditionKind.MAKE_WHOLE, description="restitution",
                     unit=MakeWholeUnit.DOLLARS, required_amount=Decimal(amount))


def service_hours(amount: str = "40") -> Condition:
    return Condition(id="c-hours", case_id="case-1", kind=ConditionKind.MAKE_WHOLE, description="community service",
                     unit=MakeWholeUnit.HOURS, required_amount=Decimal(amount))


def general() -> Condition:
    return Condition(id="c-general", case_id="case-1", kind=ConditionKind.GENERAL, description="no new arrests")


def test_money_is_integer_cents_and_fractions_of_a_cent_are_refused():
    assert rules.to_cents(Decimal("150.05")) == 15005
    assert rules.dollars(15005) == Decimal("150.05") and rules.money_text(15000) == "$150.00"
    with pytest.raises(rules.LedgerEntryRefused):
        rules.to_cents(Decimal("1.005"))


@pytest.mark.parametrize(("amount", "paid_on", "field"), [
    ("0", TODAY, "amount"), ("-1", TODAY, "amount"), ("10", date(2026, 6, 16), "paid_on")])
def test_a_payment_is_positive_and_not_dated_after_today(amount, paid_on, field):
    with pytest.raises(rules.LedgerEntryRefused) as refused:
        rules.check_payment(restitution(), Decimal(amount), paid_on=paid_on, today=TODAY)
    assert refused.value.problem_extra["errors"][0]["field"] == field


def test_payments_go_on_dollars_and_hours_on_hours():
    assert rules.check_payment(restitution(), Decimal("25.50"), paid_on=TODAY, today=TODAY) == 2550
    assert rules.check_hours(service_hours(), Decimal("2.5"), served_on=TODAY, today=TODAY) == Decimal("2.50")
    with pytest.raises(ConditionProgressError):
        rules.check_payment(service_hours(), Decimal("5"), paid_on=TODAY, today=TODAY)
    with pytest.raises(ConditionProgressError):
        rules.check_hours(restitution(), Decimal("5"), served_on=TODAY, today=TODAY)
    with pytest.raises(ConditionProgressError):
        rules.check_payment(general(), Decimal("5"), paid_on=TODAY, today=TODAY)


def test_the_balance_and_the_day_it_was_met_are_derived_from_the_ledger_in_date_order():
    entries = [(date(2026, 6, 10), Decimal("200")), (date(2026, 5, 1), Decimal("100")),
               (date(2026, 6, 12), Decimal("50"))]
    paid = rules.with_ledger(restitution(), entries)
    assert (paid.completed_amount, paid.remaining, paid.met, paid.met_on) == (
        Decimal("350"), Decimal(0), True, date(2026, 6, 10))
    assert rules.overpaid(paid) == Decimal("50")
    half = rules.with_ledger(restitution(), entries[1:2])
    assert (half.remaining, half.met, half.met_on, rules.overpaid(half)) == (Decimal("200"), False, None, Decimal(0))
    assert rules.with_ledger(general(), entries) == general()


def test_what_is_unmet_names_the_outstanding_amount():
    owed = rules.with_ledger(restitution(), [(TODAY, Decimal("150"))])
    hours = rules.with_ledger(service_hours(), [(TODAY, Decimal("12.5"))])
    waiver = rules.Waiver(waived_on=TODAY, waived_by="sup-1", reason="agreed")
    missing = rules.unmet_conditions([(owed, None), (hours, None), (general(), None),
                                      (general().model_copy(update={"id": "c-waived"}), waiver)])
    assert [(u.condition_id, u.unmet) for u in missing] == [
        ("c-money", "$150.00 of $300.00 outstanding"), ("c-hours", "27.50 hours of 40.00 hours outstanding"),
        ("c-general", "not marked met")]


def test_completion_needs_every_unmet_condition_waived_by_a_supervisor_by_name():
    missing = rules.unmet_conditions([(rules.with_ledger(restitution(), [(TODAY, Decimal("150"))]), None),
                                      (general(), None)])
    with pytest.raises(rules.ConditionsUnmet) as blocked:
        rules.check_completion(missing, None)
    assert [u["condition_id"] for u in blocked.value.problem_extra["unmet_conditions"]] == ["c-money", "c-general"]
    partial = rules.completion_waiver(SUPERVISOR, ["c-money"], "victim agreed")
    with pytest.raises(rules.ConditionsUnmet) as still:
        rules.check_completion(missing, partial)
    assert [u.condition_id for u in still.value.missing] == ["c-general"]
    with pytest.raises(rules.WaiverNotApplicable):
        rules.check_completion(missing, rules.completion_waiver(SUPERVISOR, ["c-money", "c-other"], "x"))
    both = rules.completion_waiver(SUPERVISOR, ["c-general", "c-money"], "victim agreed")
    assert rules.check_completion(missing, both) == ["c-general", "c-money"]
    assert rules.check_completion([], None) == []
    with pytest.raises(OverrideNotPermitted):
        rules.completion_waiver(MANAGER, ["c-money"], "cannot pay")
    with pytest.raises(rules.LedgerEntryRefused):
        rules.completion_waiver(SUPERVISOR, ["c-money"], "  ")


def test_an_edit_records_what_changed_and_only_a_supervisor_waives():
    edit = rules.ConditionEdit(required_amount=Decimal("250"), reason="court amended")
    edited = rules.edit_condition(restitution(), None, edit, actor=MANAGER, on=TODAY,
                                  entries=[(TODAY, Decimal("250"))])
    assert edited.changed == {"required_amount": ["300", "250"]} and edited.waiver is None
    assert edited.condition.met and edited.condition.met_on == TODAY  # re-derived against the new amount
    waive = rules.ConditionEdit(waive=True, reason="victim declined")
    with pytest.raises(OverrideNotPermitted):
        rules.edit_condition(restitution(), None, waive, actor=MANAGER, on=TODAY)
    waived = rules.edit_condition(restitution(), None, waive, actor=SUPERVISOR, on=TODAY)
    assert waived.waiver == rules.Waiver(waived_on=TODAY, waived_by="sup-1", reason="victim declined")
    with pytest.raises(rules.ConditionEditRefused):  # settled
        rules.edit_condition(restitution(), waived.waiver, rules.ConditionEdit(description="x", reason="y"),
                             actor=SUPERVISOR, on=TODAY)
    with pytest.raises(rules.ConditionEditRefused):  # met: nothing to waive
        rules.edit_condition(restitution(), None, waive, actor=SUPERVISOR, on=TODAY, entries=[(TODAY, Decimal(300))])
    with pytest.raises(rules.ConditionEditRefused):  # no amount on a general condition
        rules.edit_condition(general(), None, rules.ConditionEdit(required_amount=Decimal(5), reason="?"),
                             actor=SUPERVISOR, on=TODAY)
    with pytest.raises(rules.ConditionEditRefused):  # nothing changes
        rules.edit_condition(general(), None, rules.ConditionEdit(description="no new arrests", reason="?"),
                             actor=SUPERVISOR, on=TODAY)
