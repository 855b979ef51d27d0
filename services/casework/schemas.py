"""Casework's HTTP bodies (pydantic): what clients send and receive.

Over 400 lines on purpose: one flat module of 35 endpoints' bodies, grouped by resource like `api/`; each
model is a few declarative lines, and splitting it would only scatter the imports of `api/` and `mapping.py`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from services.casework.domain.appointments import AppointmentKind, kind_of
from services.casework.domain.conditions import PaymentMethod
from services.casework.domain.consent import (
    ConsentKind,
    DispositionEvent,
    InfoCategory,
    Purpose,
    SignatureMethod,
    SignerCapacity,
)
from services.casework.domain.lifecycle import CaseState, Disposition
from services.casework.domain.plan import GoalStatus, NeedDomain, NeedLevel
from services.casework.domain.reports import Dimension
from services.casework.domain.supervision import (
    AppointmentStatus,
    ConditionKind,
    ContactKind,
    IncidentKind,
    MakeWholeUnit,
    Response,
)
from shared.http.pagination import PageQuery
from shared.types import Email, IsoAwareDatetime, IsoDate, IsoDateTime

Slug = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9-]+$")]
Text = Annotated[str, Field(min_length=1, max_length=2000)]
Id = Annotated[str, Field(min_length=1, max_length=64)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# ---------------------------------------------------------------- staff and settings


class StaffOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    email: str
    role: str
    programs: list[str]
    caseload_cap: int
    active: bool
    subject: str | None = Field(default=None, description="token `sub` of this person")
    phone: str | None = None
    version: int = 1


class StaffIn(Strict):
    """A new case manager or supervisor."""

    name: str = Field(min_length=1, max_length=200)
    email: Email
    role: Literal["case_manager", "supervisor"] = "case_manager"
    programs: list[Slug] = Field(default_factory=list, max_length=50)
    caseload_cap: int = Field(default=25, ge=1, le=500)
    subject: str | None = Field(default=None, min_length=1, max_length=200,
                                description="token `sub` of this person (defaults to the email)")
    phone: str | None = Field(default=None, min_length=3, max_length=30, pattern=r"^\+?[0-9][0-9 ().-]{0,27}[0-9)]$")


class AgencySettingsIn(Strict):
    assignment_strategy: str = Field(min_length=1, max_length=64)


class AgencySettingsOut(BaseModel):
    assignment_strategy: str
    installed_strategies: list[str]
    version: int


# ---------------------------------------------------------------- participants and cases


class ParticipantOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    first_name: str
    last_name: str
    date_of_birth: IsoDate
    phone: str | None
    email: str | None
    preferred_language: str
    sex: str | None
    race: str | None
    ethnicity: str | None
    age_at_referral: int | None
    address_line1: str | None = None
    address_line2: str | None = None
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    person_id: str | None = Field(default=None, description="the person's first participant record when this "
                                  "one is linked to it (ADR 0071): the same person, consents carry over")
    version: int = 1


class CaseSummary(BaseModel):
    """A case in a list (no personal details: open the case to read them, which is audited)."""

    id: str
    referral_id: str
    case_number: str
    participant_id: str
    program_id: str
    state: CaseState
    case_manager_id: str | None
    opened_on: IsoDate
    start_date: IsoDate | None
    expected_end_date: IsoDate | None
    closed_on: IsoDate | None
    version: int


class CaseOut(CaseSummary):
    participant: ParticipantOut
    min_months: int
    max_months: int
    referred_on: IsoDate | None
    earliest_completion: IsoDate | None
    latest_end: IsoDate | None
    disposition: Disposition | None
    termination_reason: str | None
    termination_detail: str | None
    withdrawal_reason: str | None
    override: dict[str, Any] | None
    extensions: int
    allowed_transitions: list[str] = Field(description="actions this case can take now")


class CaseListQuery(PageQuery):
    model_config = ConfigDict(extra="forbid")

    status: CaseState | None = None
    case_manager_id: str | None = Field(default=None, max_length=64)
    program: str | None = Field(default=None, max_length=64)
    referral_id: str | None = Field(default=None, min_length=1, max_length=64,
                                    description="the case opened for this intake referral")


class ExtendIn(Strict):
    action: Literal["extend"]
    reason: Text
    months: int | None = Field(default=None, ge=1, le=60)
    until: IsoDate | None = None


class ConditionWaiverIn(Strict):
    condition_ids: list[Id] = Field(min_length=1, max_length=100, description="each unmet condition waived")
    reason: Text


class CompleteIn(Strict):
    action: Literal["complete"]
    disposition: Disposition = Disposition.DISMISSAL
    override_reason: str | None = Field(default=None, min_length=1, max_length=2000,
                                        description="supervisor override to complete before the minimum")
    on: IsoDate | None = Field(default=None, description="completion date; default today")
    waive_conditions: ConditionWaiverIn | None = Field(
        default=None, description="supervisor: waive these unmet conditions (the minimum override never does)")


class TerminateIn(Strict):
    action: Literal["terminate"]
    reason: Literal["new_offense", "non_compliance", "absconded", "participant_request", "other"]
    detail: str | None = Field(default=None, max_length=2000)


class WithdrawIn(Strict):
    action: Literal["withdraw"]
    reason: Text


TransitionIn = Annotated[ExtendIn | CompleteIn | TerminateIn | WithdrawIn, Field(discriminator="action")]


class AssignmentIn(Strict):
    case_manager_id: Id
    reason: str | None = Field(default=None, max_length=2000)
    allow_over_cap: bool = False


class AssignmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    case_manager_id: str
    previous_case_manager_id: str | None
    assigned_at: IsoDateTime
    assigned_by: str | None
    strategy: str | None
    reason: str | None


# ---------------------------------------------------------------- assessment and plan


class DomainAssessmentIn(Strict):
    domain: NeedDomain
    level: NeedLevel
    notes: str = Field(default="", max_length=2000)


class AssessmentIn(Strict):
    assessed_on: IsoDate | None = None
    domains: list[DomainAssessmentIn] = Field(min_length=1, max_length=len(NeedDomain))


class AssessmentOut(BaseModel):
    id: str
    version: int
    assessed_on: IsoDate
    assessed_by: str
    domains: list[DomainAssessmentIn]
    priorities: list[str] = Field(description="domains with moderate or high need, highest first")


class TaskOut(BaseModel):
    id: str
    description: str
    due_date: IsoDate | None
    owner: str
    done: bool
    done_on: IsoDate | None


class GoalOut(BaseModel):
    id: str
    domain: NeedDomain
    description: str
    target_date: IsoDate | None
    status: GoalStatus
    service_referral_ids: list[str]
    tasks: list[TaskOut]
    needs_attention: bool
    attention_reason: str | None
    proposed_by_assessment: int | None = Field(
        default=None, description="the assessment version whose priority proposed this goal (from the template)")
    outside_assessment_reason: str | None = Field(
        default=None, description="why a goal in a domain no assessment covered was added")


class PlanOut(BaseModel):
    case_id: str
    version: int
    goals: list[GoalOut]
    updated_on: IsoDate
    updated_by: str
    priorities: list[NeedDomain] = Field(default_factory=list,
                                         description="the latest assessment's priority domains, highest first")
    priorities_without_goal: list[NeedDomain] = Field(
        default_factory=list, description="priorities with no goal yet (a dropped goal does not count)")


class AddGoal(Strict):
    op: Literal["add_goal"]
    domain: NeedDomain
    description: Text
    target_date: IsoDate | None = None
    reason: Text | None = Field(default=None,
                                description="required when no assessment of the case covered the goal's domain")


class SetGoalStatus(Strict):
    op: Literal["set_goal_status"]
    goal_id: Id
    status: GoalStatus


class AddTask(Strict):
    op: Literal["add_task"]
    goal_id: Id
    description: Text
    due_date: IsoDate | None = None
    owner: str = Field(default="participant", min_length=1, max_length=200)


class CompleteTask(Strict):
    op: Literal["complete_task"]
    goal_id: Id
    task_id: Id


class LinkServiceReferral(Strict):
    op: Literal["link_service_referral"]
    goal_id: Id
    service_referral_id: Annotated[str, Field(min_length=1, max_length=100)]


PlanChangeIn = Annotated[AddGoal | SetGoalStatus | AddTask | CompleteTask | LinkServiceReferral,
                         Field(discriminator="op")]


# ---------------------------------------------------------------- supervision


# An amount of money or hours: a JSON number or a decimal string, above 0, at most 2 decimal places.
Amount = Annotated[Decimal, Field(gt=0, le=Decimal("1000000"), decimal_places=2), WithJsonSchema({"anyOf": [
    {"type": "number", "exclusiveMinimum": 0, "maximum": 1000000, "multipleOf": 0.01},
    {"type": "string",
     "pattern": r"^(?:[1-9][0-9]{0,5}(?:\.[0-9]{1,2})?|0\.(?:[1-9][0-9]?|0[1-9])|1000000(?:\.00?)?)$"},
]})]


class ConditionIn(Strict):
    kind: ConditionKind
    description: Text
    unit: MakeWholeUnit | None = None
    required_amount: Amount | None = None


class ConditionOut(BaseModel):
    id: str
    case_id: str
    kind: ConditionKind
    description: str
    unit: MakeWholeUnit | None
    required_amount: Decimal | None
    completed_amount: Decimal = Field(description="paid or served so far, derived from the ledger")
    remaining: Decimal | None = Field(description="the balance (dollars) or hours still owed, never below 0")
    overpaid: Decimal | None = Field(default=None, description="paid beyond the required amount (to refund)")
    percent_complete: Decimal | None
    met: bool
    met_on: IsoDate | None
    waived: bool = False
    waived_on: IsoDate | None = None
    waived_by: str | None = None
    waiver_reason: str | None = None
    version: int


class ProgressIn(Strict):
    amount: Amount
    on: IsoDate | None = None


class ConditionMetIn(Strict):
    on: IsoDate | None = None


class ConditionPatchIn(Strict):
    """Edit a condition (description, required amount) or waive it (supervisor); the reason is kept in its history."""

    description: Text | None = None
    required_amount: Amount | None = None
    waive: bool = Field(default=False, description="waive the condition (supervisor only); it then counts as settled")
    reason: Text


class ConditionRevisionOut(BaseModel):
    version: int = Field(description="the condition's version after the change")
    action: Literal["edited", "waived", "waived_at_completion"]
    changes: dict[str, Any] = Field(description="field -> [before, after]")
    reason: str
    changed_by: str
    changed_at: IsoDateTime


ReceiptNumber = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._/#-]*$")]


class PaymentIn(Strict):
    """One payment toward a make-whole condition in dollars."""

    paid_on: IsoDate = Field(description="the day it was paid; not after today")
    amount: Amount
    method: PaymentMethod
    receipt_number: ReceiptNumber | None = None


class PaymentOut(BaseModel):
    id: str
    condition_id: str
    paid_on: IsoDate
    amount: Decimal
    amount_cents: int
    method: PaymentMethod
    receipt_number: str | None
    recorded_by: str
    recorded_at: IsoDateTime


class HoursIn(Strict):
    """Community-service hours toward a make-whole condition in hours."""

    served_on: IsoDate = Field(description="the day served; not after today")
    hours: Annotated[Decimal, Field(gt=0, le=Decimal("24"), decimal_places=2), WithJsonSchema({"anyOf": [
        {"type": "number", "exclusiveMinimum": 0, "maximum": 24, "multipleOf": 0.01},
        {"type": "string",
         "pattern": r"^(?:(?:[1-9]|1[0-9]|2[0-3])(?:\.[0-9]{1,2})?|0\.(?:[1-9][0-9]?|0[1-9])|24(?:\.00?)?)$"},
    ]})]
    site: str = Field(min_length=1, max_length=300)
    verified_by: str = Field(min_length=1, max_length=200, description="who at the site verified the hours")


class HoursOut(BaseModel):
    id: str
    condition_id: str
    served_on: IsoDate
    hours: Decimal
    site: str
    verified_by: str | None
    recorded_by: str
    recorded_at: IsoDateTime


class LedgerQuery(PageQuery):
    model_config = ConfigDict(extra="forbid")


class ContactIn(Strict):
    kind: ContactKind = ContactKind.CHECK_IN
    scheduled_for: IsoAwareDatetime
    status: Literal["scheduled", "completed"] = "scheduled"
    notes: str = Field(default="", max_length=4000)


class ContactOutcomeIn(Strict):
    status: Literal["completed", "missed", "cancelled"]
    notes: str = Field(default="", max_length=4000)
    completed_at: IsoAwareDatetime | None = None


class ContactOut(BaseModel):
    id: str
    case_id: str
    kind: ContactKind
    scheduled_for: IsoDateTime
    status: str
    completed_at: IsoDateTime | None
    notes: str
    version: int


def _kind_alias(value: Any) -> Any:
    """The spellings of the free-text days (`check-in`, `court`) name their kind."""
    if isinstance(value, str):
        kind = kind_of(value)
        return kind.value if kind is not None else value
    return value


KindIn = Annotated[AppointmentKind, BeforeValidator(_kind_alias), WithJsonSchema({
    "type": "string", "enum": [k.value for k in AppointmentKind],
    "description": "check_in, service_visit, court_hearing (court, division, docket_number required), drug_test "
                   "or meeting; the older spellings such as `check-in` are accepted"})]
Court = Annotated[str, Field(min_length=1, max_length=200)]
Division = Annotated[str, Field(min_length=1, max_length=100)]
Docket = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._/:-]*$")]


class AppointmentIn(Strict):
    starts_at: IsoAwareDatetime
    ends_at: IsoAwareDatetime | None = None
    kind: KindIn = AppointmentKind.MEETING
    with_whom: str = Field(min_length=1, max_length=200)
    location: str | None = Field(default=None, max_length=300)
    service_referral_id: str | None = Field(default=None, max_length=100)
    court: Court | None = Field(default=None, description="court hearing: the court, e.g. 22nd Judicial Circuit")
    division: Division | None = Field(default=None, description="court hearing: the division, e.g. Division 16")
    docket_number: Docket | None = Field(default=None, description="court hearing: the docket (cause) number")


class RescheduleIn(Strict):
    """Move the appointment: a new start (an end given or the old length kept) and optionally a new place."""

    action: Literal["reschedule"]
    starts_at: IsoAwareDatetime
    ends_at: IsoAwareDatetime | None = None
    location: str | None = Field(default=None, min_length=1, max_length=300, description="default: unchanged")
    reason: str | None = Field(default=None, min_length=1, max_length=500, description="why it moved")


class CancelIn(Strict):
    """Withdraw the appointment; none of its reminders is sent."""

    action: Literal["cancel"]
    reason: str = Field(min_length=1, max_length=500, description="why it was cancelled")


AppointmentPatch = Annotated[RescheduleIn | CancelIn, Field(discriminator="action")]


class AppointmentOut(BaseModel):
    id: str
    case_id: str
    starts_at: IsoDateTime
    ends_at: IsoDateTime | None
    kind: AppointmentKind
    with_whom: str
    location: str | None
    service_referral_id: str | None
    status: AppointmentStatus
    version: int
    court: str | None = Field(default=None, description="court hearings: the court")
    division: str | None = None
    docket_number: str | None = None
    kind_label: str | None = Field(default=None, description="the free-text kind it had before kinds were data")
    cancel_reason: str | None = None


class IncidentIn(Strict):
    kind: IncidentKind
    occurred_on: IsoDate
    description: Text
    response: Response | None = Field(default=None, description="what was done; default: the suggested step")
    contact_id: str | None = Field(default=None, max_length=64)


class IncidentOut(BaseModel):
    id: str
    case_id: str
    kind: IncidentKind
    occurred_on: IsoDate
    description: str
    response: Response
    suggested_response: Response
    responded_by: str
    contact_id: str | None


# ---------------------------------------------------------------- consent


class SignatureIn(Strict):
    signed_by: str = Field(min_length=1, max_length=200)
    method: SignatureMethod
    signed_on: IsoDate
    capacity: SignerCapacity = SignerCapacity.PARTICIPANT


class ConsentIn(Strict):
    """A written consent with the 42 CFR 2.31 elements; `criminal_justice` adds the 2.35 revocation terms."""

    kind: ConsentKind = ConsentKind.STANDARD
    discloser: str = Field(min_length=1, max_length=300, description="who may disclose (2.31(a)(2))")
    categories: list[InfoCategory] = Field(min_length=1, max_length=len(InfoCategory))
    recipient_org_id: str = Field(min_length=1, max_length=200)
    recipient_name: str = Field(min_length=1, max_length=300)
    purposes: list[Purpose] = Field(min_length=1, max_length=len(Purpose))
    right_to_revoke_acknowledged: bool = False
    revocation_instructions: str = Field(default="", max_length=2000)
    expires_on: IsoDate | None = None
    expiry_event: DispositionEvent | None = None
    revocable_on: IsoDate | None = None
    revocable_upon: DispositionEvent | None = None
    signature: SignatureIn | None = None
    effective_on: IsoDate | None = None


class ConsentOut(BaseModel):
    id: str
    participant_id: str
    kind: ConsentKind
    participant_name: str
    discloser: str
    categories: list[InfoCategory]
    recipient_org_id: str
    recipient_name: str
    purposes: list[Purpose]
    right_to_revoke_acknowledged: bool
    revocation_instructions: str
    expires_on: IsoDate | None
    expiry_event: DispositionEvent | None
    revocable_on: IsoDate | None
    revocable_upon: DispositionEvent | None
    signature: SignatureIn | None
    effective_on: IsoDate | None
    revoked_on: IsoDate | None
    revoked_by: str | None
    revocation_method: str | None
    missing_elements: list[str]
    revocable_from: str
    version: int


class RevocationIn(Strict):
    method: str = Field(min_length=1, max_length=100, description="e.g. written, oral")
    on: IsoDate | None = None


class CoverageOut(BaseModel):
    covered: bool
    consent_id: str | None
    reason: str
    notice: str


# ---------------------------------------------------------------- reports


class ReportQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal["json", "csv"] = "json"


class OutcomesQuery(ReportQuery):
    dimension: Dimension | None = Field(default=None, description="one breakdown; default all five")
