"""Intake's HTTP bodies (pydantic): what agencies send and what they get back.

The referral body is the domain `Referral` itself (plus an optional `external_id`), so the API, the batch
endpoint and the CLI import validate exactly the same way.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.intake.domain.decisions import Override
from services.intake.domain.referral import Charge, Defendant, History, Referral
from services.intake.domain.report import ReportCell
from services.intake.domain.ruleset import PackSpec
from services.intake.domain.screening import ProgramScreening
from shared.http.pagination import PageQuery
from shared.http.problems import FieldError
from shared.types import IsoDate, IsoDateTime

MAX_BATCH = 500
Slug = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$")]
ExternalId = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[\x21-\x7e]+$")]


class ProgramOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    slug: str
    name: str
    description: str
    min_months: int
    max_months: int
    ruleset_version: str


class ReferralSubmission(Referral):
    """A referral as an agency system sends it; `external_id` is its own id for the case (makes re-runs safe)."""

    external_id: ExternalId | None = Field(
        default=None, description="the sending system's id; a second referral with the same id is refused"
    )


class ScreeningOut(BaseModel):
    """One screening: the pack version (and hash) it used and a verdict per program with its reasons."""

    id: int
    trigger: Literal["submitted", "rescreen", "judgement", "eligible_on"]
    ruleset_version: str
    ruleset_hash: str
    screened_on: IsoDate
    screened_at: IsoDateTime
    screened_by: str
    recommendation: Literal["eligible", "needs_review", "ineligible"]
    programs: list[ProgramScreening]


class DecisionOut(BaseModel):
    action: Literal["accept", "decline", "defer"]
    program: str | None = None
    reason_code: str | None = None
    note: str | None = None
    override: bool = False
    deferred_until: IsoDate | None = None
    ruleset_version: str | None = None
    decided_by: str
    decided_at: IsoDateTime


ReviewReasonName = Literal["needs_judgement", "possible_duplicate", "deferral_ended", "eligible_on_reached"]


class ReviewState(BaseModel):
    """Where the referral stands at the screening desk (shown on every list item and read)."""

    pending_review: list[str] = Field(
        default_factory=list, description="programs whose verdict awaits a screener's judgement")
    review_reasons: list[ReviewReasonName] = Field(
        default_factory=list, description="why it is in the review queue (empty: it is not)")
    review_since: IsoDateTime | None = Field(default=None, description="in the review queue since")
    eligible_on: IsoDate | None = Field(
        default=None, description="the first day time alone makes a program eligible; it comes back then")


class JudgementOut(BaseModel):
    kind: Literal["program", "duplicate"]
    program: str | None = None
    outcome: Literal["eligible", "ineligible", "not_duplicate", "duplicate"]
    reason: str
    screening_id: int | None = Field(default=None, description="the screening the judgement produced")
    judged_by: str
    judged_at: IsoDateTime


class PossibleDuplicate(BaseModel):
    referral_id: str
    status: str
    reasons: list[Literal["same_person", "same_case_number"]]


class ReferralOut(ReviewState):
    """A referral with its current screening, every earlier screening, its decisions and its disposition."""

    id: str
    status: Literal["screened", "accepted", "declined", "deferred", "disposed", "withdrawn"]
    version: int
    source: str
    case_number: str
    external_id: str | None = None
    received_at: IsoDateTime
    received_by: str
    defendant: Defendant
    charges: list[Charge]
    history: History
    screening: ScreeningOut = Field(description="the current (latest) screening")
    screenings: list[ScreeningOut] = Field(description="every screening, oldest first (append-only)")
    program: str | None = Field(default=None, description="the program accepted into")
    deferred_until: IsoDate | None = None
    decisions: list[DecisionOut]
    disposition: Literal["dismissal", "one_day_probation", "returned_to_prosecution"] | None = None
    disposition_reason: str | None = None
    disposed_at: IsoDateTime | None = None
    case_id: str | None = None
    possible_duplicates: list[PossibleDuplicate] = Field(
        description="other referrals of this agency for the same person (name and date of birth) or case"
    )
    judgements: list[JudgementOut] = Field(default_factory=list, description="screeners' judgements, in order")


class PersonName(BaseModel):
    first_name: str
    last_name: str
    date_of_birth: IsoDate


class ReferralSummary(ReviewState):
    id: str
    status: str
    source: str
    case_number: str
    external_id: str | None = None
    received_at: IsoDateTime
    defendant: PersonName
    recommendation: str
    eligible_programs: list[str]
    program: str | None = None
    deferred_until: IsoDate | None = None
    disposition: str | None = None


class ReferralQuery(PageQuery):
    model_config = ConfigDict(extra="forbid")

    status: Literal["screened", "accepted", "declined", "deferred", "disposed", "withdrawn"] | None = None
    program: Slug | None = Field(default=None, description="accepted into, or (undecided) screened eligible for")
    received_from: IsoDate | None = Field(default=None, description="received on or after this day (UTC)")
    received_to: IsoDate | None = Field(default=None, description="received on or before this day (UTC)")
    needs: Literal["review"] | None = Field(
        default=None, description="`review`: the review queue (a program awaits a judgement, a possible duplicate, "
                                  "a deferral or eligibility date that came), oldest first")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class AcceptIn(_Body):
    action: Literal["accept"]
    program: Slug
    note: Annotated[str, Field(max_length=2000)] | None = None
    override: Override | None = Field(
        default=None, description="a supervisor's override (pack reason code and a note) for a non-eligible program"
    )


class DeclineIn(_Body):
    action: Literal["decline"]
    reason_code: Annotated[str, Field(min_length=1, max_length=64)]
    note: Annotated[str, Field(max_length=2000)] | None = None


class DeferIn(_Body):
    action: Literal["defer"]
    until: IsoDate
    reason_code: Annotated[str, Field(min_length=1, max_length=64, description="one of the pack's deferral_reasons")]
    note: Annotated[str, Field(max_length=2000)] | None = None


class ProgramJudgementIn(_Body):
    kind: Literal["program"]
    program: Slug
    outcome: Literal["eligible", "ineligible"]
    reason: Annotated[str, Field(min_length=1, max_length=470)]


class DuplicateJudgementIn(_Body):
    kind: Literal["duplicate"]
    outcome: Literal["not_duplicate", "duplicate"]
    reason: Annotated[str, Field(min_length=1, max_length=470)]


JudgementIn = Annotated[ProgramJudgementIn | DuplicateJudgementIn, Field(discriminator="kind")]


DecisionIn = Annotated[AcceptIn | DeclineIn | DeferIn, Field(discriminator="action")]

# Each item is a referral submission; one that does not validate is answered `invalid` in its own result
# (the rest are still created), so the document says an item is a submission or any other object.
BatchItemIn = Annotated[ReferralSubmission | dict[str, Any], Field(union_mode="left_to_right")]
BatchIn = Annotated[list[BatchItemIn], Field(min_length=1, max_length=MAX_BATCH)]


class BatchItemResult(BaseModel):
    index: int
    status: Literal["created", "existing", "invalid"]
    id: str | None = None
    errors: list[FieldError] | None = None


class BatchOut(BaseModel):
    created: int
    existing: int
    invalid: int
    results: list[BatchItemResult]


class ReportQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: IsoDate | None = Field(default=None, alias="from", description="received on or after (UTC day)")
    to: IsoDate | None = Field(default=None, description="received on or before (UTC day)")
    format: Literal["json", "csv"] = "json"


class ScreeningReportOut(BaseModel):
    date_from: IsoDate | None
    date_to: IsoDate | None
    referrals: int
    min_cell: int
    cells: list[ReportCell]


class RulesetOut(BaseModel):
    agency: str
    name: str
    version: str
    content_hash: str
    source: Literal["installed", "bundled"]
    programs: list[str]
    decline_reasons: dict[str, str]
    override_reasons: dict[str, str]
    deferral_reasons: dict[str, str]


# A ruleset pack (the YAML pack's content as JSON), checked whole at the edge against the pack's own schema;
# what only the loaded pack can tell (known criteria and their params, unique ids) answers `invalid-ruleset`.
RulesetIn = Annotated[PackSpec, Field(description="a ruleset pack (the YAML pack's content as JSON)")]


class ReplayIn(_Body):
    """Which referrals to replay: received between these days (UTC, both included)."""

    from_: IsoDate = Field(alias="from")
    to: IsoDate

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ExportQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    format: Literal["ndjson", "csv"] = "ndjson"
    variant: Literal["identified", "deidentified"] = Field(
        default="identified", description="deidentified (research): no names or case numbers, age bands instead of "
                                          "dates of birth, keyed hashes instead of ids")
    from_: IsoDate | None = Field(default=None, alias="from", description="received on or after (UTC day)")
    to: IsoDate | None = Field(default=None, description="received on or before (UTC day)")
    program: Slug | None = Field(default=None, description="accepted into, or screened eligible for")
