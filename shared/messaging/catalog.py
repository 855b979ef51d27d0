"""The one catalog of event types: every event's `data` model, its type, schema version and classification.

Adding a field: give it a default (old publishers keep validating, old consumers ignore it). Renaming or
removing one is a breaking change: bump `version` (the `dataschema` changes) and keep both for a while.
Personal data is minimised: the tenant travels in the envelope's `tenantid`, never in `data`.

Over 400 lines on purpose: every event type is defined once, here (DESIGN section 4), grouped by the service
that publishes it; each model is a few declarative lines.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, EmailStr, Field

from shared.vocabulary import ServiceReferralStatus

Classification = Literal["public", "internal", "confidential", "cjis"]
M = TypeVar("M", bound=type["EventData"])




class EventData(BaseModel):
    """Base of every event payload; unknown fields from newer publishers are ignored (tolerant reader)."""

    model_config = ConfigDict(extra="ignore", frozen=True)


@dataclass(frozen=True)
class EventSpec:
    service: str
    entity: str
    verb: str
    model: type[EventData]
    version: int
    classification: Classification
    summary: str

    @property
    def name(self) -> str:
        """The short name used by handlers and the CLI: `referral.accepted`."""
        return f"{self.entity}.{self.verb}"

    @property
    def type(self) -> str:
        return f"org.diversion.{self.service}.{self.entity}.{self.verb}"

    @property
    def dataschema(self) -> str:
        return f"urn:diversion:schema:{self.service}.{self.entity}.{self.verb}:v{self.version}"


CATALOG: dict[str, EventSpec] = {}
_BY_MODEL: dict[type[EventData], EventSpec] = {}


def event_type(service: str, name: str, *, classification: Classification, version: int = 1) -> Callable[[M], M]:
    """Register a data model as the payload of `org.diversion.<service>.<name>`."""

    def register(model: M) -> M:
        entity, verb = name.split(".")
        summary = (model.__doc__ or "").strip().splitlines()[0] if model.__doc__ else name
        spec = EventSpec(service, entity, verb, model, version, classification, summary)
        if spec.type in CATALOG:
            raise ValueError(f"event type {spec.type} registered twice")
        CATALOG[spec.type] = spec
        _BY_MODEL[model] = spec
        return model

    return register


def spec_for_type(type_: str) -> EventSpec:
    return CATALOG[type_]


def spec_for_model(model: type[BaseModel]) -> EventSpec:
    try:
        return _BY_MODEL[model]  # type: ignore[index]
    except KeyError:
        raise KeyError(f"{model.__name__} is not an event in shared.messaging.catalog") from None


def spec_for(service: str, name: str) -> EventSpec:
    return CATALOG[f"org.diversion.{service}.{name}"]


# ---------------------------------------------------------------- intake


Language = str  # BCP 47 tag, e.g. "en", "es", "bs"


class Demographics(EventData):
    """Optional self-reported demographics, used only for aggregate outcome reports (small cells suppressed)."""

    sex: str | None = Field(default=None, max_length=40)
    race: str | None = Field(default=None, max_length=80)
    ethnicity: str | None = Field(default=None, max_length=80)
    age_at_referral: int | None = Field(default=None, ge=0, le=130)


class Participant(EventData):
    """What casework needs to open a case and reach the person; nothing about the charges."""

    first_name: str = Field(min_length=1, max_length=100)
    last_name: str = Field(min_length=1, max_length=100)
    date_of_birth: date
    phone: str | None = Field(default=None, max_length=30)
    email: EmailStr | None = None
    preferred_language: Language = Field(default="en", max_length=20)
    demographics: Demographics | None = None


@event_type("intake", "referral.accepted", classification="cjis")
class ReferralAccepted(EventData):
    """A prosecutor accepted a referral into a diversion program; casework opens exactly one case."""

    referral_id: str
    case_number: str = Field(description="the court / prosecution case number")
    program: str = Field(description="program slug in the agency's ruleset")
    min_months: int = Field(ge=1, le=60)
    max_months: int = Field(ge=1, le=60)
    participant: Participant
    accepted_at: AwareDatetime
    decided_by: str = Field(description="`sub` of the prosecutor who decided")
    same_person_referral_ids: list[str] = Field(
        default_factory=list, max_length=50,
        description="earlier referrals of the agency that intake's duplicate detection matched to the same person "
                    "(normalized name and date of birth), unless a screener judged this referral not a duplicate; "
                    "casework links the new case's participant to theirs (ADR 0071)")


@event_type("intake", "referral.declined", classification="confidential")
class ReferralDeclined(EventData):
    """A referral was declined; it returns to ordinary prosecution."""

    referral_id: str
    case_number: str
    reason: str = Field(max_length=2000)
    declined_at: AwareDatetime
    decided_by: str


@event_type("intake", "referral.deferred", classification="confidential")
class ReferralDeferred(EventData):
    """The prosecutor put the decision on a referral off until a date, for one of the pack's reasons."""

    referral_id: str
    case_number: str
    reason_code: str = Field(max_length=64, description="one of the pack's deferral_reasons")
    deferred_until: date
    deferred_at: AwareDatetime
    decided_by: str


@event_type("intake", "referral.review_due", classification="internal")
class ReferralReviewDue(EventData):
    """A deferred referral's date, or a program's eligibility date, has come: it waits in the review queue."""

    referral_id: str
    reasons: list[Literal["deferral_ended", "eligible_on_reached"]] = Field(min_length=1)
    due_on: date = Field(description="the date that came (deferred_until or eligible_on)")
    queued_at: AwareDatetime


class ChargeRecord(EventData):
    """A charge as the prosecution record holds it (for the agency's own case management system only)."""

    statute: str = Field(max_length=40)
    description: str = Field(max_length=200)
    offense_class: str = Field(max_length=20)
    offense_date: date


@event_type("intake", "referral.disposed", classification="cjis")
class ReferralDisposed(EventData):
    """The prosecution record's final word on a diverted referral: the case's outcome, or its withdrawal."""

    referral_id: str
    case_number: str
    case_id: str | None = None
    program: str | None = None
    disposition: Literal["dismissal", "one_day_probation", "returned_to_prosecution", "withdrawn"]
    reason: str | None = Field(default=None, max_length=2000)
    charges: list[ChargeRecord] = Field(default_factory=list)
    disposed_at: AwareDatetime


# ---------------------------------------------------------------- intake: sealing and erasure (ADR 0083)


class _RecordRequest(EventData):
    request_id: str = Field(max_length=100, description="the sealing ledger entry this asks the services to act on")
    referral_id: str = Field(max_length=100)
    case_id: str | None = Field(default=None, max_length=100)
    requested_at: AwareDatetime
    attempt: int = Field(default=1, ge=1, le=100, description="1, then one more for each retry of a silent service")


@event_type("intake", "record.sealing_requested", classification="internal")
class RecordSealingRequested(_RecordRequest):
    """The agency's sealing pack closes a case's records (RSMo 610.105): every service seals what it holds."""

    disposition: str = Field(max_length=40)
    pack_version: str = Field(max_length=40)


@event_type("intake", "record.erasure_requested", classification="internal")
class RecordErasureRequested(_RecordRequest):
    """A legal order erases the person's records: every service deletes them, keeping keyed tombstones only."""

    basis: str = Field(max_length=60, description="the legal basis the records officer named (an order's code)")


class RecordConfirmation(EventData):
    """A service's answer to a sealing or erasure request: what it sealed or deleted, by record class."""

    request_id: str = Field(max_length=100)
    referral_id: str = Field(max_length=100)
    service: Literal["casework", "resources", "notifications"]
    counts: dict[str, int] = Field(default_factory=dict, description="rows sealed or deleted per record class")
    confirmed_at: AwareDatetime


@event_type("casework", "record.sealing_confirmed", classification="internal")
class CaseworkSealingConfirmed(RecordConfirmation):
    """casework sealed what it holds about the case (its answer to record.sealing_requested)."""


@event_type("casework", "record.erasure_confirmed", classification="internal")
class CaseworkErasureConfirmed(RecordConfirmation):
    """casework erased the person's records and kept tombstones (its answer to record.erasure_requested)."""


@event_type("resources", "record.sealing_confirmed", classification="internal")
class ResourcesSealingConfirmed(RecordConfirmation):
    """resources sealed what it holds about the case (its answer to record.sealing_requested)."""


@event_type("resources", "record.erasure_confirmed", classification="internal")
class ResourcesErasureConfirmed(RecordConfirmation):
    """resources erased the person's records and kept tombstones (its answer to record.erasure_requested)."""


@event_type("notifications", "record.sealing_confirmed", classification="internal")
class NotificationsSealingConfirmed(RecordConfirmation):
    """notifications sealed what it holds about the case (its answer to record.sealing_requested)."""


@event_type("notifications", "record.erasure_confirmed", classification="internal")
class NotificationsErasureConfirmed(RecordConfirmation):
    """notifications erased the person's records and kept tombstones (its answer to record.erasure_requested)."""


SEALING_CONFIRMATIONS = (CaseworkSealingConfirmed, ResourcesSealingConfirmed, NotificationsSealingConfirmed)
ERASURE_CONFIRMATIONS = (CaseworkErasureConfirmed, ResourcesErasureConfirmed, NotificationsErasureConfirmed)


# ---------------------------------------------------------------- casework


@event_type("casework", "case.opened", classification="confidential")
class CaseOpened(EventData):
    """A diversion case was opened from an accepted referral."""

    case_id: str
    referral_id: str
    program: str
    opened_at: AwareDatetime
    expected_end: date | None = None
    participant_id: str | None = None
    state: Literal["pending_assignment", "active"] | None = Field(
        default=None, description="pending_assignment when no case manager had room"
    )


@event_type("casework", "case.assigned", classification="internal")
class CaseAssigned(EventData):
    """A case manager was assigned (or reassigned) to a case."""

    case_id: str
    case_manager: str = Field(description="`sub` of the case manager")
    previous_case_manager: str | None = None
    assigned_at: AwareDatetime


@event_type("casework", "case.plan_updated", classification="confidential")
class CasePlanUpdated(EventData):
    """The participant's support plan changed (goals added, completed or dropped)."""

    case_id: str
    plan_version: int = Field(ge=1)
    goals_total: int = Field(ge=0)
    goals_completed: int = Field(ge=0)
    updated_at: AwareDatetime
    change: str | None = Field(default=None, max_length=64, description="goal_added, extended, ...")
    expected_end: date | None = Field(default=None, description="the case's expected end after the change")


@event_type("casework", "case.completed", classification="confidential")
class CaseCompleted(EventData):
    """The participant completed the program; the prosecution record gets the disposition."""

    case_id: str
    referral_id: str
    disposition: Literal["dismissal", "one_day_probation"]
    completed_at: AwareDatetime


@event_type("casework", "case.terminated", classification="confidential")
class CaseTerminated(EventData):
    """The case failed and returns to prosecution."""

    case_id: str
    referral_id: str
    reason: Literal["new_offense", "non_compliance", "absconded", "participant_request", "other"]
    detail: str | None = Field(default=None, max_length=2000)
    terminated_at: AwareDatetime


@event_type("casework", "case.withdrawn", classification="confidential")
class CaseWithdrawn(EventData):
    """The case was withdrawn before it really started (e.g. opened in error)."""

    case_id: str
    referral_id: str
    withdrawn_at: AwareDatetime
    reason: str | None = Field(default=None, max_length=2000)


@event_type("casework", "appointment.scheduled", classification="confidential")
class AppointmentScheduled(EventData):
    """An appointment was scheduled with the participant (reminders follow)."""

    appointment_id: str
    case_id: str
    starts_at: AwareDatetime
    ends_at: AwareDatetime | None = None
    kind: str = Field(default="meeting", max_length=50)
    location: str | None = Field(default=None, max_length=300)
    # What notifications needs to remind the participant (starts_at is UTC; render it in their zone).
    participant_id: str | None = None
    participant_first_name: str | None = Field(default=None, max_length=100)
    phone: str | None = Field(default=None, max_length=30)
    email: EmailStr | None = None
    preferred_language: Language = Field(default="en", max_length=20)
    with_whom: str | None = Field(default=None, max_length=200)
    version: int | None = Field(default=None, ge=1, description=(
        "the appointment's version: a consumer ignores an event older than one it already applied"))


@event_type("casework", "appointment.rescheduled", classification="confidential")
class AppointmentRescheduled(AppointmentScheduled):
    """An appointment moved (time or place): the old reminders are withdrawn, new ones planned."""

    previous_starts_at: AwareDatetime
    reason: str | None = Field(default=None, max_length=500)
    rescheduled_at: AwareDatetime


@event_type("casework", "appointment.cancelled", classification="confidential")
class AppointmentCancelled(EventData):
    """An appointment was cancelled: none of its reminders is sent."""

    appointment_id: str
    case_id: str
    starts_at: AwareDatetime = Field(description="when it would have been")
    reason: str = Field(min_length=1, max_length=500)
    cancelled_at: AwareDatetime
    version: int | None = Field(default=None, ge=1)


@event_type("casework", "checkin.overdue", classification="confidential")
class CheckinOverdue(EventData):
    """A scheduled check-in was not made on time."""

    case_id: str
    checkin_id: str
    due_at: AwareDatetime


@event_type("casework", "case.contact_overdue", classification="internal")
class CaseContactOverdue(EventData):
    """The case manager has not contacted the participant within the program's contact interval."""

    case_id: str
    case_manager: str | None = None
    last_contact_at: AwareDatetime | None = None
    due_at: AwareDatetime


@event_type("casework", "case.end_approaching", classification="internal")
class CaseEndApproaching(EventData):
    """A case is near its planned end date; the outcome must be prepared."""

    case_id: str
    case_manager: str | None = None
    expected_end: date
    days_left: int = Field(ge=0)


class _StaffMember(EventData):
    """A staff member as casework's directory holds them, with where they get notices."""

    staff_id: str
    agency_id: str
    role: str = Field(max_length=32)
    active: bool
    display_name: str = Field(max_length=200)
    email: EmailStr
    phone: str | None = Field(default=None, max_length=30)
    subject: str | None = Field(default=None, max_length=200, description=(
        "the token `sub` events name the person by (case.assigned's case_manager); default the staff id"))


@event_type("casework", "staff.registered", classification="internal")
class StaffRegistered(_StaffMember):
    """A case manager or supervisor joined the agency's staff directory (notifications learns the contact)."""


@event_type("casework", "staff.updated", classification="internal")
class StaffUpdated(_StaffMember):
    """A staff member's record was corrected (active flag, caseload cap, programs or contact details).

    The whole directory entry, so a consumer never needs the previous one; `changed_fields` says what moved.
    """

    programs: list[str] = Field(default_factory=list)
    caseload_cap: int | None = Field(default=None, ge=0)
    version: int | None = Field(default=None, ge=1)
    changed_fields: list[str] = Field(default_factory=list)
    updated_at: AwareDatetime | None = None


# ---------------------------------------------------------------- casework: consents (ADR 0070)


class _ConsentFacts(EventData):
    """One consent as services outside casework need it for a send-time check (no signature, no name)."""

    consent_id: str = Field(max_length=100)
    participant_id: str = Field(max_length=100)
    person_id: str = Field(max_length=100, description=(
        "the person across linked participant records (ADR 0071): the first record's id, or this record's"))
    recipient_org_id: str = Field(max_length=200)
    categories: list[str] = Field(default_factory=list, max_length=20)
    purposes: list[str] = Field(default_factory=list, max_length=10)
    kind: str = Field(default="standard", max_length=32)
    valid: bool = Field(description="every 42 CFR 2.31 element present and signed")
    effective_on: date | None = None
    expires_on: date | None = None
    revoked_on: date | None = None


@event_type("casework", "consent.recorded", classification="confidential")
class ConsentRecorded(_ConsentFacts):
    """A participant's consent to disclose was recorded (or changed)."""

    recorded_at: AwareDatetime


@event_type("casework", "consent.revoked", classification="confidential")
class ConsentRevoked(_ConsentFacts):
    """A consent was revoked: from now on it covers nothing (every service honours it within the bound)."""

    revoked_at: AwareDatetime


@event_type("casework", "consent.expired", classification="confidential")
class ConsentExpired(_ConsentFacts):
    """A consent reached its expiry date or event (published once, by casework's timer)."""

    expired_at: AwareDatetime


# ---------------------------------------------------------------- resources


class PartnerContact(EventData):
    """How the partner reaches the participant; only what the consent allows."""

    phone: str | None = Field(default=None, max_length=30)
    email: EmailStr | None = None
    preferred_language: Language = Field(default="en", max_length=20)


class PartnerReferralPayload(EventData):
    """The minimised view a partner receives: never charges, history or case numbers."""

    participant_name: str = Field(max_length=200)
    contact: PartnerContact
    need: str = Field(max_length=500, description="what the participant needs from the service")
    appointment_preference: str | None = Field(default=None, max_length=500)
    need_category: str | None = Field(default=None, max_length=40, description="directory need category slug")
    redisclosure_notice: str | None = Field(
        default=None, description="42 CFR 2.32 notice that travels with the disclosure"
    )


class DisclosureScope(EventData):
    """What a partner-bound event discloses, for notifications' send-time consent check. Internal: never in
    a partner's copy (which is `partner_view` alone)."""

    consent_id: str | None = Field(default=None, max_length=100)
    participant_id: str | None = Field(default=None, max_length=100)
    categories: list[str] = Field(default_factory=list, max_length=20, description="derived by the server")
    purpose: str = Field(default="service_referral", max_length=40)


_VIEW = Field(default=None, description="the partner's projection (shared.disclosure.project, ADR 0070)")


@event_type("resources", "service_referral.requested", classification="confidential")
class ServiceReferralRequested(EventData):
    """A case manager referred a participant to a partner's service (closed loop starts)."""

    service_referral_id: str
    organization_id: str = Field(description="HSDS organization id of the partner")
    service_id: str = Field(description="HSDS service id")
    consent_id: str
    partner: PartnerReferralPayload
    requested_at: AwareDatetime
    respond_by: AwareDatetime | None = None
    partner_view: dict[str, Any] | None = _VIEW
    scope: DisclosureScope | None = None


@event_type("resources", "service_referral.status_changed", classification="internal")
class ServiceReferralStatusChanged(EventData):
    """A service referral moved on (FHIR Task status): the partner answered or the agency cancelled."""

    service_referral_id: str
    organization_id: str
    status: ServiceReferralStatus
    previous_status: ServiceReferralStatus | None = None
    reason_code: str | None = Field(default=None, max_length=40, description="why it was rejected, cancelled or failed")
    note: str | None = Field(default=None, max_length=2000)
    changed_at: AwareDatetime
    changed_by: str | None = None
    case_id: str | None = Field(default=None, description="casework case the referral serves (plan goals)")
    service_id: str | None = None
    partner_view: dict[str, Any] | None = _VIEW
    scope: DisclosureScope | None = None


@event_type("resources", "service_referral.escalated", classification="internal")
class ServiceReferralEscalated(EventData):
    """A partner did not answer a service referral in time; staff are told."""

    service_referral_id: str
    organization_id: str
    waiting_since: AwareDatetime
    escalated_at: AwareDatetime
    level: int = Field(default=1, ge=1)
    service_id: str | None = None
    case_id: str | None = Field(default=None, description="casework case, so staff can follow up")
    respond_by: AwareDatetime | None = None
    partner_view: dict[str, Any] | None = _VIEW
    scope: DisclosureScope | None = None


class DisclosureFacts(EventData):
    """One disclosure of a participant's information to someone outside the agency, or one withheld (ADR 0071).

    The accounting of disclosures (42 CFR 2.24 / HIPAA 164.528) casework keeps is built from these. The agency
    travels in the envelope's `tenantid`. `participant_id` may be absent when the publisher does not know it
    (a notification delivery): casework joins it through `service_referral_id`.
    """

    participant_id: str | None = Field(default=None, max_length=100)
    case_id: str | None = Field(default=None, max_length=100)
    service_referral_id: str | None = Field(default=None, max_length=100)
    recipient_org_id: str | None = Field(default=None, max_length=200, description="partner organization id")
    recipient_name: str | None = Field(default=None, max_length=300)
    channel: Literal["service_referral", "partner_read", "webhook", "amqp", "email", "sms"]
    categories: list[str] = Field(default_factory=list, max_length=20, description="information categories")
    purpose: str | None = Field(default=None, max_length=40)
    consent_id: str | None = Field(default=None, max_length=100)
    outcome: Literal["disclosed", "withheld"]
    reason: str | None = Field(default=None, max_length=300, description="why it was withheld")
    occurred_at: AwareDatetime


@event_type("resources", "disclosure.recorded", classification="confidential")
class ResourcesDisclosureRecorded(DisclosureFacts):
    """Resources disclosed (or withheld) a participant's information: a service referral sent, a partner read."""


@event_type("notifications", "disclosure.recorded", classification="confidential")
class NotificationsDisclosureRecorded(DisclosureFacts):
    """Notifications delivered (or withheld) a message carrying a participant's information to a partner."""


# ---------------------------------------------------------------- notifications


@event_type("notifications", "delivery.failed", classification="internal")
class DeliveryFailed(EventData):
    """A notification could not be delivered after all retries."""

    delivery_id: str
    channel: str = Field(max_length=50)
    trigger_event_id: str
    trigger_event_type: str
    attempts: int = Field(ge=1)
    last_error: str = Field(max_length=2000)
    failed_at: AwareDatetime
