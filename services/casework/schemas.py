"""Casework's HTTP bodies (pydantic): what clients send and receive.

Over 400 lines on purpose: one flat module of 35 endpoints' bodies, grouped by resource like `api/`; each
model is a few declarative lines, and splitting it would only scatter the imports of `api/` and `mapping.py`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

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


class StaffIn(Strict):
    """A new case manager or supervisor."""

    name: str = Field(min_length=1, max_length=200)
    email: Email
    role: Literal["case_manager", "supervisor"] = "case_manager"
    programs: list[Slug] = Field(default_factory=list, max_length=50)
    caseload_cap: int = Field(default=25, ge=1, le=500)
    subject: str | None = Field(default=None, min_length=1, max_length=200,
                                description="token `sub` of this person (defaults to the email)")


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
    person_id: str | None = Field(default=None, description="the person's first participant record when this "
                                  "one is linked to it (ADR 0071): the same person, consents carry over")


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


class CompleteIn(Strict):
    action: Literal["complete"]
    disposition: Disposition = Disposition.DISMISSAL
    override_reason: str | None = Field(default=None, min_length=1, max_length=2000,
                                        description="supervisor override to complete before the minimum")
    on: IsoDate | None = Field(default=None, description="completion date; default today")


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


class PlanOut(BaseModel):
    case_id: str
    version: int
    goals: list[GoalOut]
    updated_on: IsoDate
    updated_by: str


class AddGoal(Strict):
    op: Literal["add_goal"]
    domain: NeedDomain
    description: Text
    target_date: IsoDate | None = None


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
    completed_amount: Decimal
    remaining: Decimal | None
    percent_complete: Decimal | None
    met: bool
    met_on: IsoDate | None
    version: int


class ProgressIn(Strict):
    amount: Amount
    on: IsoDate | None = None


class ConditionMetIn(Strict):
    on: IsoDate | None = None


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


class AppointmentIn(Strict):
    starts_at: IsoAwareDatetime
    ends_at: IsoAwareDatetime | None = None
    kind: str = Field(default="meeting", min_length=1, max_length=50)
    with_whom: str = Field(min_length=1, max_length=200)
    location: str | None = Field(default=None, max_length=300)
    service_referral_id: str | None = Field(default=None, max_length=100)


class AppointmentOut(BaseModel):
    id: str
    case_id: str
    starts_at: IsoDateTime
    ends_at: IsoDateTime | None
    kind: str
    with_whom: str
    location: str | None
    service_referral_id: str | None
    status: AppointmentStatus
    version: int


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
