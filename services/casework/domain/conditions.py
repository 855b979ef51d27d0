"""Conditions that count: the make-whole ledgers (payments, community-service hours), what is still unmet,
edits and waivers of a condition, and the conditions check of a completion.

The ledger is the truth: a condition's paid total, balance and the day it was met are derived from its
entries every time, never kept as a running total. Money is integer cents; hours are Decimal with two places.

Decisions (ADR 0042):
- A payment or hours entry is positive and dated no later than today; a payment that is more than the
  outstanding balance is accepted and shown as `overpaid` (the office refunds it; the existing rule "overpayment
  is not 120% done" stands), hours beyond the requirement are accepted (extra service harms no one).
- Completing a case needs every condition met or waived. Only a supervisor waives, naming each condition
  and a reason; the minimum-duration override is a separate permission and never waives a condition.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from services.casework.domain.lifecycle import OVERRIDE_ROLES, Actor, CaseworkError, OverrideNotPermitted
from services.casework.domain.supervision import Condition, ConditionKind, ConditionProgressError, MakeWholeUnit

CENT = Decimal("0.01")


class PaymentMethod(StrEnum):
    CASH = "cash"
    CHECK = "check"
    MONEY_ORDER = "money_order"
    CARD = "card"
    ELECTRONIC = "electronic"
    OTHER = "other"  # also entries recorded before the ledger (the old progress endpoint, migration 0012)


class LedgerEntryRefused(CaseworkError):
    """A payment or hours entry that cannot be recorded: not positive, dated in the future, or fractions of a cent."""

    def __init__(self, message: str, field: str) -> None:
        self.problem_extra: dict[str, Any] = {"errors": [{"field": field, "message": message, "type": "value_error"}]}
        super().__init__(message)


class WrongLedger(ConditionProgressError):
    """Payments go on a make-whole condition in dollars, hours on one in hours (409 condition-progress)."""


def to_cents(amount: Decimal) -> int:
    """Dollars to integer cents; an amount with fractions of a cent is refused."""
    if amount != amount.quantize(CENT):
        raise LedgerEntryRefused("an amount has at most two decimal places", "amount")
    return int((amount * 100).to_integral_value())


def dollars(cents: int) -> Decimal:
    return (Decimal(cents) / 100).quantize(CENT)


def money_text(cents: int) -> str:
    return f"${dollars(cents):,.2f}"


def hours_text(hours: Decimal) -> str:
    return f"{hours.quantize(CENT)} hours"


def check_payment(condition: Condition, amount: Decimal, *, paid_on: date, today: date) -> int:
    """The payment's amount in cents, when the condition takes payments and the entry is sound."""
    if condition.kind is not ConditionKind.MAKE_WHOLE or condition.unit is not MakeWholeUnit.DOLLARS:
        raise WrongLedger(f"condition {condition.id} is not paid in dollars; record hours or mark it met")
    if amount <= 0:
        raise LedgerEntryRefused("a payment is a positive amount", "amount")
    if paid_on > today:
        raise LedgerEntryRefused(f"a payment cannot be dated after today ({today.isoformat()})", "paid_on")
    return to_cents(amount)


def check_hours(condition: Condition, hours: Decimal, *, served_on: date, today: date) -> Decimal:
    """The hours, when the condition counts hours and the entry is sound."""
    if condition.kind is not ConditionKind.MAKE_WHOLE or condition.unit is not MakeWholeUnit.HOURS:
        raise WrongLedger(f"condition {condition.id} does not count hours; record payments or mark it met")
    if hours <= 0:
        raise LedgerEntryRefused("hours are a positive amount", "hours")
    if hours != hours.quantize(CENT):
        raise LedgerEntryRefused("hours have at most two decimal places", "hours")
    if served_on > today:
        raise LedgerEntryRefused(f"hours cannot be dated after today ({today.isoformat()})", "served_on")
    return hours.quantize(CENT)


def progress(required: Decimal, entries: Iterable[tuple[date, Decimal]]) -> tuple[Decimal, date | None]:
    """The total of a ledger and the day it first reached `required` (entries taken in date order)."""
    total, met_on = Decimal(0), None
    for on, amount in sorted(entries, key=lambda entry: entry[0]):
        total += amount
        if met_on is None and total >= required:
            met_on = on
    return total, met_on


def with_ledger(condition: Condition, entries: Iterable[tuple[date, Decimal]]) -> Condition:
    """The condition with its completed amount, met and met_on derived from its ledger (make-whole only;
    general and therapeutic conditions are met by the case manager's word and keep their own)."""
    if condition.kind is not ConditionKind.MAKE_WHOLE or condition.required_amount is None:
        return condition
    total, met_on = progress(condition.required_amount, entries)
    return condition.model_copy(update={"completed_amount": total, "met": met_on is not None, "met_on": met_on})


def overpaid(condition: Condition) -> Decimal:
    if condition.required_amount is None:
        return Decimal(0)
    return max(condition.completed_amount - condition.required_amount, Decimal(0))


class Waiver(BaseModel):
    """A supervisor's recorded decision that a condition no longer has to be met."""

    model_config = ConfigDict(frozen=True)

    waived_on: date
    waived_by: str
    reason: str = Field(min_length=1)


class Unmet(BaseModel):
    """A condition that blocks completion, and what about it is unmet."""

    model_config = ConfigDict(frozen=True)

    condition_id: str
    kind: ConditionKind
    description: str
    unmet: str
    outstanding: Decimal | None = None
    unit: MakeWholeUnit | None = None


def unmet(condition: Condition, waiver: Waiver | None) -> Unmet | None:
    """None when the condition is met or waived; else what is missing."""
    if condition.met or waiver is not None:
        return None
    remaining = condition.remaining
    if condition.unit is MakeWholeUnit.DOLLARS and remaining is not None and condition.required_amount is not None:
        what = (f"{money_text(to_cents(remaining))} of {money_text(to_cents(condition.required_amount))} "
                "outstanding")
    elif condition.unit is MakeWholeUnit.HOURS and remaining is not None and condition.required_amount is not None:
        what = f"{hours_text(remaining)} of {hours_text(condition.required_amount)} outstanding"
    else:
        what = "not marked met"
    return Unmet(condition_id=condition.id, kind=condition.kind, description=condition.description, unmet=what,
                 outstanding=remaining, unit=condition.unit)


def unmet_conditions(conditions: Iterable[tuple[Condition, Waiver | None]]) -> list[Unmet]:
    return [u for c, w in conditions if (u := unmet(c, w)) is not None]


class ConditionsUnmet(CaseworkError):
    """Completion refused: conditions of the case are neither met nor waived (409 conditions-unmet)."""

    def __init__(self, missing: list[Unmet]) -> None:
        self.missing = missing
        self.problem_extra: dict[str, Any] = {"unmet_conditions": [
            {"condition_id": u.condition_id, "kind": u.kind.value, "description": u.description, "unmet": u.unmet,
             "outstanding": str(u.outstanding) if u.outstanding is not None else None,
             "unit": u.unit.value if u.unit else None}
            for u in missing]}
        names = "; ".join(f"{u.condition_id} ({u.description}): {u.unmet}" for u in missing)
        super().__init__(f"conditions not met: {names}; a supervisor may waive them by id with a reason")


class WaiverNotApplicable(CaseworkError):
    """A completion waiver names conditions that are not unmet conditions of the case (422)."""

    def __init__(self, ids: list[str]) -> None:
        self.problem_extra: dict[str, Any] = {"errors": [
            {"field": "waive_conditions.condition_ids", "message": f"{i} is not an unmet condition of this case",
             "type": "value_error"} for i in ids]}
        super().__init__(f"only unmet conditions of the case can be waived; not: {', '.join(ids)}")


class CompletionWaiver(BaseModel):
    """A supervisor's waiver, at completion, of named unmet conditions."""

    model_config = ConfigDict(frozen=True)

    condition_ids: frozenset[str]
    reason: str
    approved_by: str


def require_supervisor(actor: Actor, what: str) -> None:
    if not actor.roles & OVERRIDE_ROLES:
        raise OverrideNotPermitted(f"only a supervisor may {what}")


def completion_waiver(actor: Actor, condition_ids: Iterable[str], reason: str) -> CompletionWaiver:
    """Only a supervisor waives conditions; the waiver is in the acting supervisor's name."""
    require_supervisor(actor, "waive a condition")
    if not reason.strip():
        raise LedgerEntryRefused("a waiver needs a reason", "waive_conditions.reason")
    return CompletionWaiver(condition_ids=frozenset(condition_ids), reason=reason.strip(), approved_by=actor.subject)


def check_completion(missing: list[Unmet], waiver: CompletionWaiver | None) -> list[str]:
    """The ids the waiver settles (sorted); `ConditionsUnmet` naming whatever is still unmet. A waiver naming a
    condition that is not unmet is refused whole, so nobody waives by mistake what they did not look at."""
    unmet_ids = {u.condition_id for u in missing}
    waived = set(waiver.condition_ids) if waiver else set()
    stray = sorted(waived - unmet_ids)
    if stray:
        raise WaiverNotApplicable(stray)
    still = [u for u in missing if u.condition_id not in waived]
    if still:
        raise ConditionsUnmet(still)
    return sorted(waived)


class ConditionEditRefused(CaseworkError):
    """An edit that does not fit the condition (an amount on a general condition, a waived condition...)."""


class ConditionEdit(BaseModel):
    """What a PATCH asks: a new description and/or required amount, and/or a waiver; always with a reason."""

    model_config = ConfigDict(frozen=True)

    description: str | None = None
    required_amount: Decimal | None = Field(default=None, gt=0)
    waive: bool = False
    reason: str = Field(min_length=1)


class Edited(BaseModel):
    model_config = ConfigDict(frozen=True)

    condition: Condition
    waiver: Waiver | None
    changed: dict[str, Any]  # field -> [before, after] (JSON-able)


def edit_condition(condition: Condition, waiver: Waiver | None, edit: ConditionEdit, *, actor: Actor, on: date,
                   entries: Iterable[tuple[date, Decimal]] = ()) -> Edited:
    """Apply an edit. Waiving needs a supervisor; a waived condition is settled and not edited further;
    a waiver of a met condition is refused (nothing to waive); an amount only on a make-whole condition."""
    entries = list(entries)
    if waiver is not None:
        raise ConditionEditRefused(f"condition {condition.id} was waived on {waiver.waived_on.isoformat()}; "
                                   "it is settled")
    changed: dict[str, Any] = {}
    update: dict[str, Any] = {}
    if edit.description is not None and edit.description != condition.description:
        changed["description"] = [condition.description, edit.description]
        update["description"] = edit.description
    if edit.required_amount is not None:
        if condition.kind is not ConditionKind.MAKE_WHOLE:
            raise ConditionEditRefused("only a make-whole condition has a required amount")
        if edit.required_amount != edit.required_amount.quantize(CENT):
            raise LedgerEntryRefused("an amount has at most two decimal places", "required_amount")
        if edit.required_amount != condition.required_amount:
            changed["required_amount"] = [str(condition.required_amount), str(edit.required_amount)]
            update["required_amount"] = edit.required_amount
    new_waiver = None
    if edit.waive:
        require_supervisor(actor, "waive a condition")
        if with_ledger(condition.model_copy(update=update), entries).met:
            raise ConditionEditRefused(f"condition {condition.id} is met; there is nothing to waive")
        new_waiver = Waiver(waived_on=on, waived_by=actor.subject, reason=edit.reason.strip())
        changed["waived"] = [False, True]
    if not changed:
        raise ConditionEditRefused("the edit changes nothing")
    return Edited(condition=with_ledger(condition.model_copy(update=update), entries), waiver=new_waiver,
                  changed=changed)
