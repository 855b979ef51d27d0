"""Program conditions of a case: their ledgers (payments, hours), edits and waivers with history, the conditions
check of a completion, and the timeline items these facts give a case."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.casework.domain import conditions as rules
from services.casework.domain import supervision
from services.casework.domain.lifecycle import Actor
from services.casework.mapping import condition_domain, condition_out, condition_row, condition_waiver
from services.casework.models import (
    CaseRecord,
    ConditionHours,
    ConditionPayment,
    ConditionRecord,
    ConditionRevision,
)
from services.casework.schemas import ConditionIn, ConditionOut, ConditionPatchIn, ConditionWaiverIn, HoursIn, PaymentIn
from services.casework.usecases.common import Missing, require_open
from shared.http import Call
from shared.http.pagination import paginate

# ---------------------------------------------------------------- conditions and their derived standing


def add_condition(session: Session, case: CaseRecord, body: ConditionIn, *, now: datetime) -> ConditionRecord:
    """A new condition (pydantic's ValidationError when its kind and amount do not fit together)."""
    domain = supervision.Condition(id=str(uuid.uuid4()), case_id=case.id, kind=body.kind,
                                   description=body.description, unit=body.unit,
                                   required_amount=body.required_amount)
    row = condition_row(domain, case.agency_id, now)
    session.add(row)
    return row


def list_conditions(session: Session, case_id: str) -> list[ConditionRecord]:
    return list(session.scalars(select(ConditionRecord).where(ConditionRecord.case_id == case_id)
                                .order_by(ConditionRecord.created_at, ConditionRecord.id)))


def condition_of(session: Session, case: CaseRecord, condition_id: str, *, lock: bool = True) -> ConditionRecord:
    statement = select(ConditionRecord).where(
        ConditionRecord.agency_id == case.agency_id, ConditionRecord.case_id == case.id,
        ConditionRecord.id == condition_id)
    row = session.scalar(statement.with_for_update() if lock else statement)
    if row is None:
        raise Missing("no such condition")
    return row


def ledger_entries(session: Session, row: ConditionRecord) -> list[tuple[date, Decimal]]:
    """The condition's ledger as (date, amount): dollars for payments, hours for hours."""
    if row.unit == supervision.MakeWholeUnit.DOLLARS.value:
        payments = session.execute(select(ConditionPayment.paid_on, ConditionPayment.amount_cents)
                                   .where(ConditionPayment.condition_id == row.id)).all()
        return [(on, rules.dollars(cents)) for on, cents in payments]
    if row.unit == supervision.MakeWholeUnit.HOURS.value:
        hours = session.execute(select(ConditionHours.served_on, ConditionHours.hours)
                                .where(ConditionHours.condition_id == row.id)).all()
        return [(on, Decimal(amount)) for on, amount in hours]
    return []


def standing(session: Session, row: ConditionRecord) -> supervision.Condition:
    """The condition with its progress, met and met_on derived from the ledger."""
    return rules.with_ledger(condition_domain(row), ledger_entries(session, row))


def condition_view(session: Session, row: ConditionRecord) -> ConditionOut:
    return condition_out(row, standing(session, row))


def change_condition(session: Session, row: ConditionRecord,
                     change: Callable[[supervision.Condition], supervision.Condition]) -> None:
    """Apply the domain's `mark_condition_met` (its ConditionProgressError propagates) and bump the version."""
    changed = change(standing(session, row))
    if row.kind != supervision.ConditionKind.MAKE_WHOLE.value:
        row.met, row.met_on = changed.met, changed.met_on
    row.version += 1


def record_progress(session: Session, case: CaseRecord, row: ConditionRecord, amount: Decimal, *, on: date,
                    by: str, now: datetime) -> None:
    """The older progress endpoint: one ledger entry without method, receipt or site (method `other`, site
    `not recorded`). The new payments and hours endpoints record those details."""
    require_open(case)
    current = standing(session, row)
    supervision.record_progress(current, amount, on=on)  # ConditionProgressError: no amount / not positive
    if current.unit is supervision.MakeWholeUnit.DOLLARS:
        cents = rules.check_payment(current, amount, paid_on=on, today=now.date())
        session.add(ConditionPayment(id=str(uuid.uuid4()), agency_id=row.agency_id, case_id=row.case_id,
                                     condition_id=row.id, paid_on=on, amount_cents=cents,
                                     method=rules.PaymentMethod.OTHER.value, receipt_number=None, recorded_by=by,
                                     recorded_at=now))
    else:
        hours = rules.check_hours(current, amount, served_on=on, today=now.date())
        session.add(ConditionHours(id=str(uuid.uuid4()), agency_id=row.agency_id, case_id=row.case_id,
                                   condition_id=row.id, served_on=on, hours=hours, site="not recorded",
                                   verified_by=None, recorded_by=by, recorded_at=now))
    row.version += 1
    session.flush()


# ---------------------------------------------------------------- ledgers


def record_payment(session: Session, case: CaseRecord, row: ConditionRecord, body: PaymentIn, *, by: str,
                   now: datetime) -> ConditionPayment:
    """One payment (the domain refuses a wrong ledger, a non-positive amount or a date after today)."""
    require_open(case)
    cents = rules.check_payment(condition_domain(row), body.amount, paid_on=body.paid_on, today=now.date())
    payment = ConditionPayment(id=str(uuid.uuid4()), agency_id=row.agency_id, case_id=row.case_id,
                               condition_id=row.id, paid_on=body.paid_on, amount_cents=cents,
                               method=body.method.value, receipt_number=body.receipt_number, recorded_by=by,
                               recorded_at=now)
    session.add(payment)
    row.version += 1  # the condition's balance changed: its ETag does too
    session.flush()
    return payment


def record_hours(session: Session, case: CaseRecord, row: ConditionRecord, body: HoursIn, *, by: str,
                 now: datetime) -> ConditionHours:
    require_open(case)
    hours = rules.check_hours(condition_domain(row), body.hours, served_on=body.served_on, today=now.date())
    entry = ConditionHours(id=str(uuid.uuid4()), agency_id=row.agency_id, case_id=row.case_id,
                           condition_id=row.id, served_on=body.served_on, hours=hours, site=body.site,
                           verified_by=body.verified_by, recorded_by=by, recorded_at=now)
    session.add(entry)
    row.version += 1
    session.flush()
    return entry


def list_payments(session: Session, call: Call, row: ConditionRecord) -> tuple[list[ConditionPayment], str | None]:
    statement = select(ConditionPayment).where(ConditionPayment.condition_id == row.id)
    return paginate(session, call, statement,
                    order=(ConditionPayment.paid_on, ConditionPayment.recorded_at, ConditionPayment.id),
                    key=lambda p: (p.paid_on, p.recorded_at, p.id))


def list_hours(session: Session, call: Call, row: ConditionRecord) -> tuple[list[ConditionHours], str | None]:
    statement = select(ConditionHours).where(ConditionHours.condition_id == row.id)
    return paginate(session, call, statement,
                    order=(ConditionHours.served_on, ConditionHours.recorded_at, ConditionHours.id),
                    key=lambda h: (h.served_on, h.recorded_at, h.id))


# ---------------------------------------------------------------- edits, waivers and history


def _revision(session: Session, row: ConditionRecord, action: str, changes: dict[str, object], reason: str,
              by: str, now: datetime) -> ConditionRevision:
    revision = ConditionRevision(agency_id=row.agency_id, case_id=row.case_id, condition_id=row.id,
                                 version=row.version, action=action, changes=changes, reason=reason,
                                 changed_by=by, changed_at=now)
    session.add(revision)
    return revision


def edit_condition(session: Session, case: CaseRecord, row: ConditionRecord, body: ConditionPatchIn, *,
                   actor: Actor, now: datetime) -> ConditionRevision:
    """Edit or waive (the domain's refusals propagate: OverrideNotPermitted for a waiver by anyone but a
    supervisor, ConditionEditRefused); the change and its reason go into the condition's history."""
    require_open(case)
    edit = rules.ConditionEdit(description=body.description, required_amount=body.required_amount,
                               waive=body.waive, reason=body.reason)
    edited = rules.edit_condition(condition_domain(row), condition_waiver(row), edit, actor=actor, on=now.date(),
                                  entries=ledger_entries(session, row))
    row.description = edited.condition.description
    row.required_amount = edited.condition.required_amount
    if edited.waiver is not None:
        row.waived_on, row.waived_by, row.waiver_reason = (edited.waiver.waived_on, edited.waiver.waived_by,
                                                           edited.waiver.reason)
    row.version += 1
    revision = _revision(session, row, "waived" if edited.waiver else "edited", edited.changed, body.reason.strip(),
                         actor.subject, now)
    session.flush()
    return revision


def history(session: Session, row: ConditionRecord) -> list[ConditionRevision]:
    return list(session.scalars(select(ConditionRevision).where(ConditionRevision.condition_id == row.id)
                                .order_by(ConditionRevision.id)))


# ---------------------------------------------------------------- completion


def unmet_for_case(session: Session, case: CaseRecord) -> list[rules.Unmet]:
    rows = list_conditions(session, case.id)
    return rules.unmet_conditions((standing(session, r), condition_waiver(r)) for r in rows)


def settle_for_completion(session: Session, case: CaseRecord, waiver: ConditionWaiverIn | None, *, actor: Actor,
                          now: datetime) -> list[str]:
    """Before a completion: the supervisor's waiver of named unmet conditions is applied (each recorded in the
    condition's history) and anything still unmet refuses the completion (`ConditionsUnmet`, 409)."""
    granted = rules.completion_waiver(actor, waiver.condition_ids, waiver.reason) if waiver else None
    waived = rules.check_completion(unmet_for_case(session, case), granted)
    for condition_id in waived:
        assert granted is not None
        row = condition_of(session, case, condition_id)
        row.waived_on, row.waived_by, row.waiver_reason = now.date(), granted.approved_by, granted.reason
        row.version += 1
        _revision(session, row, "waived_at_completion", {"waived": [False, True]}, granted.reason,
                  granted.approved_by, now)
    session.flush()
    return waived


# ---------------------------------------------------------------- timeline


@dataclass(frozen=True)
class TimelineItem:
    """One fact for a case timeline: when it was recorded, what kind, a one-line summary without personal data."""

    occurred_at: datetime
    kind: str  # condition.payment | condition.hours | condition.edited | condition.waived
    summary: str
    condition_id: str


def timeline_items(session: Session, case_id: str) -> list[TimelineItem]:
    """Payments, hours, edits and waivers of the case's conditions, oldest first (by the moment recorded).

    The caller has checked the reader may see the case (and audits the read)."""
    names = {r.id: r.description for r in list_conditions(session, case_id)}
    items: list[TimelineItem] = []
    for p in session.scalars(select(ConditionPayment).where(ConditionPayment.case_id == case_id)):
        receipt = f", receipt {p.receipt_number}" if p.receipt_number else ""
        items.append(TimelineItem(p.recorded_at, "condition.payment",
                                  f"payment of {rules.money_text(p.amount_cents)} ({p.method}{receipt}) paid on "
                                  f"{p.paid_on.isoformat()} toward '{names.get(p.condition_id, '')}'", p.condition_id))
    for h in session.scalars(select(ConditionHours).where(ConditionHours.case_id == case_id)):
        items.append(TimelineItem(h.recorded_at, "condition.hours",
                                  f"{rules.hours_text(h.hours)} served on {h.served_on.isoformat()} at {h.site} "
                                  f"toward '{names.get(h.condition_id, '')}'", h.condition_id))
    for r in session.scalars(select(ConditionRevision).where(ConditionRevision.case_id == case_id)):
        kind = "condition.edited" if r.action == "edited" else "condition.waived"
        what = "edited (" + ", ".join(sorted(r.changes)) + ")" if r.action == "edited" else "waived"
        items.append(TimelineItem(r.changed_at, kind, f"condition '{names.get(r.condition_id, '')}' {what} by "
                                  f"{r.changed_by}: {r.reason}", r.condition_id))
    return sorted(items, key=lambda i: (i.occurred_at, i.kind, i.condition_id))
