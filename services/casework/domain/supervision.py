"""Supervision: program conditions, contacts and appointments, incidents with graduated responses, and
the timer rules (pure functions of `now`) that find overdue check-ins, silent cases and near program ends.

Each timer hit carries a dedup key; the service stores it with a unique constraint so a hit found on
every sweep is published once.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.casework.domain.lifecycle import OPEN_STATES, CaseState, CaseworkError


class ConditionKind(StrEnum):
    GENERAL = "general"  # e.g. no new arrests, keep appointments
    MAKE_WHOLE = "make_whole"  # restitution, community service
    THERAPEUTIC = "therapeutic"  # e.g. complete an assessment or treatment


class MakeWholeUnit(StrEnum):
    DOLLARS = "dollars"
    HOURS = "hours"


class ConditionProgressError(CaseworkError):
    """Progress recorded on a condition that has no measurable amount, or a non-positive amount."""


class Condition(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    case_id: str
    kind: ConditionKind
    description: str
    unit: MakeWholeUnit | None = None
    required_amount: Decimal | None = Field(default=None, gt=0)
    completed_amount: Decimal = Decimal(0)
    met: bool = False
    met_on: date | None = None

    @model_validator(mode="after")
    def _make_whole_has_amount(self) -> Condition:
        measurable = self.unit is not None and self.required_amount is not None
        if self.kind is ConditionKind.MAKE_WHOLE and not measurable:
            raise ValueError("a make-whole condition needs a unit and a required amount")
        if self.kind is not ConditionKind.MAKE_WHOLE and (self.unit or self.required_amount):
            raise ValueError("only make-whole conditions carry an amount")
        return self

    @property
    def remaining(self) -> Decimal | None:
        if self.required_amount is None:
            return None
        return max(self.required_amount - self.completed_amount, Decimal(0))

    @property
    def percent_complete(self) -> Decimal | None:
        """Whole-number percent, capped at 100 (overpayment is not 120% done)."""
        if self.required_amount is None:
            return None
        share = min(self.completed_amount / self.required_amount, Decimal(1)) * 100
        return share.quantize(Decimal(1))


def record_progress(condition: Condition, amount: Decimal, *, on: date) -> Condition:
    """Add a payment or hours; the condition is met once the required amount is reached."""
    if condition.required_amount is None:
        raise ConditionProgressError(f"condition {condition.id} has no amount to progress")
    if amount <= 0:
        raise ConditionProgressError("progress must be a positive amount")
    done = condition.completed_amount + amount
    reached = done >= condition.required_amount
    return condition.model_copy(
        update={
            "completed_amount": done,
            "met": condition.met or reached,
            "met_on": condition.met_on or (on if reached else None),
        }
    )


def mark_condition_met(condition: Condition, *, on: date) -> Condition:
    """General and therapeutic conditions are met by the case manager's word."""
    if condition.kind is ConditionKind.MAKE_WHOLE and not condition.met:
        raise ConditionProgressError("a make-whole condition is met by recording its amount")
    return condition.model_copy(update={"met": True, "met_on": condition.met_on or on})


class ContactKind(StrEnum):
    CHECK_IN = "check_in"
    OFFICE_VISIT = "office_visit"
    HOME_VISIT = "home_visit"
    PHONE = "phone"
    VIDEO = "video"


class ContactStatus(StrEnum):
    SCHEDULED = "scheduled"
    COMPLETED = "completed"
    MISSED = "missed"
    CANCELLED = "cancelled"


class Contact(BaseModel):
    """A contact or check-in between case manager and participant."""

    model_config = ConfigDict(frozen=True)

    id: str
    case_id: str
    agency_id: str
    kind: ContactKind = ContactKind.CHECK_IN
    scheduled_for: datetime
    status: ContactStatus = ContactStatus.SCHEDULED
    completed_at: datetime | None = None
    notes: str = ""


class ContactAlreadySettled(CaseworkError):
    """A check-in is settled once: a completed, missed or cancelled contact keeps its outcome."""


def settle_contact(
    contact: Contact, status: ContactStatus, *, notes: str, completed_at: datetime | None, now: datetime,
) -> Contact:
    """Record the outcome of a scheduled contact; a completed one is completed at `completed_at` (default
    `now`), in UTC. Empty notes keep the notes it had."""
    if contact.status is not ContactStatus.SCHEDULED:
        raise ContactAlreadySettled(f"the contact is already {contact.status.value}")
    update: dict[str, object] = {"status": status, "notes": notes or contact.notes}
    if status is ContactStatus.COMPLETED:
        update["completed_at"] = (completed_at or now).astimezone(UTC)
    return contact.model_copy(update=update)


class AppointmentStatus(StrEnum):
    SCHEDULED = "scheduled"
    ATTENDED = "attended"
    MISSED = "missed"
    CANCELLED = "cancelled"


class Appointment(BaseModel):
    """An appointment with a partner service or the court (reminded by notifications)."""

    model_config = ConfigDict(frozen=True)

    id: str
    case_id: str
    agency_id: str
    starts_at: datetime
    ends_at: datetime | None = None
    kind: str = "meeting"
    with_whom: str
    location: str | None = None
    service_referral_id: str | None = None
    status: AppointmentStatus = AppointmentStatus.SCHEDULED


class AppointmentEndsBeforeStart(CaseworkError):
    """An appointment ends after it starts."""


def schedule_appointment(
    *, id: str, case_id: str, agency_id: str, starts_at: datetime, ends_at: datetime | None, kind: str,
    with_whom: str, location: str | None = None, service_referral_id: str | None = None,
) -> Appointment:
    """A new scheduled appointment, its times in UTC; one that ends at or before its start is refused."""
    if ends_at is not None and ends_at <= starts_at:
        raise AppointmentEndsBeforeStart("an appointment ends after it starts")
    return Appointment(id=id, case_id=case_id, agency_id=agency_id, starts_at=starts_at.astimezone(UTC),
                       ends_at=ends_at.astimezone(UTC) if ends_at else None, kind=kind, with_whom=with_whom,
                       location=location, service_referral_id=service_referral_id)


class IncidentKind(StrEnum):
    MISSED_CHECKIN = "missed_checkin"
    NEW_ARREST = "new_arrest"
    NON_COMPLIANCE = "non_compliance"


class Response(StrEnum):
    """Graduated responses, mildest first."""

    WARNING = "warning"
    INCREASED_CONTACT = "increased_contact"
    PLAN_REVISION = "plan_revision"
    SUPERVISOR_REVIEW = "supervisor_review"
    TERMINATION_RECOMMENDED = "termination_recommended"


RESPONSE_LADDER: tuple[Response, ...] = tuple(Response)


class Incident(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    case_id: str
    agency_id: str
    kind: IncidentKind
    occurred_on: date
    description: str
    response: Response
    responded_by: str
    contact_id: str | None = None  # the missed check-in, when there is one


def suggest_response(kind: IncidentKind, prior: Iterable[Incident]) -> Response:
    """The next step on the ladder: one rung above the strongest earlier response; a new arrest starts
    at supervisor review. A suggestion only: the case manager records what was actually done."""
    strongest = max((RESPONSE_LADDER.index(i.response) for i in prior), default=-1)
    floor = RESPONSE_LADDER.index(Response.SUPERVISOR_REVIEW) if kind is IncidentKind.NEW_ARREST else 0
    return RESPONSE_LADDER[min(max(strongest + 1, floor), len(RESPONSE_LADDER) - 1)]


class TimerKind(StrEnum):
    CHECKIN_OVERDUE = "checkin_overdue"
    NO_CONTACT = "no_contact"
    PROGRAM_END_APPROACHING = "program_end_approaching"


class TimerHit(BaseModel):
    """Something a sweep found; `dedup_key` is stable across sweeps for the same situation."""

    model_config = ConfigDict(frozen=True)

    kind: TimerKind
    case_id: str
    agency_id: str
    due: date
    dedup_key: str
    detail: dict[str, str | int | None] = Field(default_factory=dict)


class CaseClock(BaseModel):
    """The few facts of a case the case-level timers need (one row per case from the database)."""

    model_config = ConfigDict(frozen=True)

    case_id: str
    agency_id: str
    state: CaseState
    case_manager_id: str | None = None
    start_date: date | None = None
    expected_end_date: date | None = None
    last_contact_at: datetime | None = None  # latest completed contact


def _key(kind: TimerKind, case_id: str, *parts: object) -> str:
    return ":".join([kind.value, case_id, *(str(p) for p in parts)])


def overdue_checkins(contacts: Iterable[Contact], *, now: datetime, grace: timedelta) -> list[TimerHit]:
    """Scheduled check-ins still not completed `grace` after their time. A rescheduled contact gets a new
    key (its due date is part of it)."""
    hits = []
    for c in contacts:
        if c.status is ContactStatus.SCHEDULED and c.scheduled_for + grace < now:
            due = c.scheduled_for.date()
            hits.append(
                TimerHit(
                    kind=TimerKind.CHECKIN_OVERDUE,
                    case_id=c.case_id,
                    agency_id=c.agency_id,
                    due=due,
                    dedup_key=_key(TimerKind.CHECKIN_OVERDUE, c.case_id, c.id, due.isoformat()),
                    detail={"contact_id": c.id, "scheduled_for": c.scheduled_for.isoformat()},
                )
            )
    return sorted(hits, key=lambda h: (h.due, h.dedup_key))


def no_contact_cases(cases: Iterable[CaseClock], *, now: datetime, days: int) -> list[TimerHit]:
    """Open cases with no completed contact for `days` days (counted from the start when there was none).

    The key holds the date silence began, so one alert per silent stretch; a new contact starts another.
    """
    hits = []
    for c in cases:
        if c.state not in OPEN_STATES:
            continue
        since = c.last_contact_at.date() if c.last_contact_at else c.start_date
        if since is None:
            continue
        due = since + timedelta(days=days)
        if now.date() >= due:
            hits.append(
                TimerHit(
                    kind=TimerKind.NO_CONTACT,
                    case_id=c.case_id,
                    agency_id=c.agency_id,
                    due=due,
                    dedup_key=_key(TimerKind.NO_CONTACT, c.case_id, since.isoformat()),
                    detail={
                        "case_manager_id": c.case_manager_id,
                        "last_contact_on": since.isoformat(),
                        "days_without_contact": (now.date() - since).days,
                    },
                )
            )
    return sorted(hits, key=lambda h: (h.due, h.dedup_key))


def program_end_approaching(cases: Iterable[CaseClock], *, now: datetime, within_days: int) -> list[TimerHit]:
    """Open cases whose expected end is within `within_days` days (or already passed, still open).
    An extension changes the expected end and so the key: the new end is announced again."""
    hits = []
    for c in cases:
        if c.state not in OPEN_STATES or c.expected_end_date is None:
            continue
        days_left = (c.expected_end_date - now.date()).days
        if days_left <= within_days:
            end = c.expected_end_date
            hits.append(
                TimerHit(
                    kind=TimerKind.PROGRAM_END_APPROACHING,
                    case_id=c.case_id,
                    agency_id=c.agency_id,
                    due=end,
                    dedup_key=_key(TimerKind.PROGRAM_END_APPROACHING, c.case_id, end.isoformat()),
                    detail={"case_manager_id": c.case_manager_id, "days_left": days_left},
                )
            )
    return sorted(hits, key=lambda h: (h.due, h.dedup_key))
