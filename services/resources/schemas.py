"""Resources' HTTP bodies (pydantic), named after HSDS 3.0 and FHIR Task where they apply."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from services.resources.directory.needs import NEED_CATEGORIES
from shared.http.pagination import PageQuery
from shared.types import TEXT_PATTERN, Email, IsoDate, IsoDateTime
from shared.vocabulary import ServiceReferralStatus

_TEXT = re.compile(TEXT_PATTERN)

NeedCategory = Literal[NEED_CATEGORIES]  # type: ignore[valid-type]
Capacity = Literal["accepting", "waitlist", "closed"]
ServiceStatus = Literal["active", "inactive", "defunct", "temporarily closed"]
ReferralStatus = ServiceReferralStatus  # the suite's one vocabulary (shared.vocabulary)
# The information categories of casework's consent ledger (42 CFR Part 2 §2.31(a)(3)).
InfoCategory = Literal["contact_info", "needs_assessment", "plan_goals", "attendance", "substance_use_treatment",
                       "mental_health", "criminal_justice_status"]
Purpose = Literal["service_referral", "care_coordination", "progress_monitoring"]


class _Query(PageQuery):
    model_config = ConfigDict(extra="forbid")


# --- directory --------------------------------------------------------------------------------------


class OrganizationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    alternate_name: str | None = None
    description: str
    email: str | None = None
    website: str | None = None


class OrganizationQuery(_Query):
    search: str | None = Field(default=None, max_length=200, description="Part of the name")


class ServiceSearchQuery(_Query):
    limit: int = Field(default=20, ge=1, le=100)
    q: str | None = Field(default=None, max_length=200, description=(
        "Free text (names, needs, descriptions), best matches first. On PostgreSQL a very broad query ranks "
        "only the 500 most recently updated listings that match in a name and the 500 that match elsewhere; "
        "narrow it with `need`, `organization_id` or more words to reach the rest."
    ))
    need: NeedCategory | None = Field(default=None, description="Need category (casework domain slug)")
    organization_id: str | None = Field(default=None, max_length=64)
    open_now: bool = Field(default=False, description="Only services whose weekly hours include `at`")
    at: IsoDateTime | None = Field(default=None, description="The moment for open_now (default: now)")
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    radius_km: float = Field(default=10.0, gt=0, le=500)
    capacity: Capacity | None = None
    include_inactive: bool = False

    @model_validator(mode="after")
    def _point(self) -> ServiceSearchQuery:
        if (self.lat is None) != (self.lon is None):
            raise ValueError("give lat and lon together")
        return self


class OrganizationRef(BaseModel):
    id: str
    name: str


class ServiceHit(BaseModel):
    id: str
    name: str
    organization: OrganizationRef
    status: str
    capacity: Capacity
    need_categories: list[str]
    assured_date: IsoDate | None = None
    distance_km: float | None = Field(default=None, description="to the nearest location, when searching near")


class StewardIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agency_id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$",
                           description="the agency whose partner logins speak for the organization")


class StewardOut(BaseModel):
    organization_id: str
    agency_id: str
    assigned_by: str
    assigned_at: IsoDateTime


class ServicePatch(BaseModel):
    """Fields a partner keeps current; `assured: true` records that someone confirmed the listing today."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1})

    name: str | None = Field(default=None, min_length=1, max_length=300)
    alternate_name: str | None = Field(default=None, max_length=300)
    description: str | None = Field(default=None, max_length=5000)
    url: str | None = Field(default=None, max_length=500)
    email: Email | None = None
    status: ServiceStatus | None = None
    application_process: str | None = Field(default=None, max_length=2000)
    fees_description: str | None = Field(default=None, max_length=2000)
    wait_time: str | None = Field(default=None, max_length=500)
    eligibility_description: str | None = Field(default=None, max_length=2000)
    alert: str | None = Field(default=None, max_length=2000)
    capacity: Capacity | None = None
    referral_sla_hours: float | None = Field(default=None, gt=0, le=24 * 30)
    assured: bool | None = None
    assurer_email: Email | None = None

    @model_validator(mode="after")
    def _something(self) -> ServicePatch:
        if not self.model_fields_set:
            raise ValueError("name at least one field to change")
        return self


class ServiceAtLocationQuery(_Query):
    service_id: str | None = Field(default=None, max_length=36)
    organization_id: str | None = Field(default=None, max_length=64)


class ServiceAtLocationOut(BaseModel):
    id: str
    service_id: str
    service_name: str
    organization_id: str
    organization_name: str
    location_id: str
    location_name: str | None = None
    address: str | None = None
    latitude: float | None = None
    longitude: float | None = None


class TaxonomyTermQuery(_Query):
    taxonomy: str | None = Field(default=None, max_length=200, description="Taxonomy name, e.g. diversion-needs")


class TaxonomyTermOut(BaseModel):
    id: str
    code: str | None = None
    name: str
    description: str | None = None
    taxonomy: str | None = None
    taxonomy_id: str | None = None
    parent_id: str | None = None


class StaleListingsQuery(_Query):
    days: int = Field(default=180, ge=0, le=3650, description="Not verified (assured) in this many days")


class StaleListingOut(BaseModel):
    service_id: str
    service_name: str
    organization_id: str
    organization_name: str
    assured_date: IsoDate | None
    days_since_assured: int | None = Field(description="null: never verified")


# --- service referrals ------------------------------------------------------------------------------


class ParticipantContact(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone: str | None = Field(default=None, max_length=30)
    email: Email | None = None
    preferred_language: str = Field(default="en", min_length=2, max_length=20)


class ConsentScope(BaseModel):
    """What the case manager means to disclose and why; casework's ledger must cover it."""

    model_config = ConfigDict(extra="forbid")

    categories: list[InfoCategory] = Field(min_length=1, max_length=7)
    purpose: Purpose = "service_referral"


class ServiceReferralCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    case_id: str = Field(min_length=1, max_length=100)
    participant_id: str = Field(min_length=1, max_length=100)
    participant_name: str = Field(min_length=1, max_length=200)
    contact: ParticipantContact
    need: str = Field(min_length=1, max_length=500)
    need_category: NeedCategory | None = None
    appointment_preference: str | None = Field(default=None, max_length=500)
    service_id: str = Field(min_length=1, max_length=36)
    consent: ConsentScope


class PartnerContact(BaseModel):
    """How a partner may reach the participant: only the methods its sharing profile allows (absent else)."""

    phone: str | None = None
    email: str | None = None
    preferred_language: str = "en"

    @model_serializer(mode="wrap")
    def _allowed_methods_only(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        dumped: dict[str, Any] = handler(self)
        return {k: v for k, v in dumped.items() if k in self.model_fields_set or k == "preferred_language"}


class PartnerServiceReferralOut(BaseModel):
    """What the partner organization sees: exactly the fields of its sharing profile (ADR 0070), the same
    projection its webhooks and AMQP feed carry, with the 42 CFR 2.32 notice; a field the profile does not
    name is absent. `id`, `status`, `updated_at` and `allowed_next` are always there."""

    id: str
    status: ReferralStatus
    updated_at: IsoDateTime
    allowed_next: list[str]
    redisclosure_notice: str
    service_id: str | None = None
    organization_id: str | None = None
    reason_code: str | None = None
    participant_first_name: str | None = None
    participant_name: str | None = None
    contact: PartnerContact | None = None
    need: str | None = None
    need_category: str | None = None
    appointment_preference: str | None = None
    requested_at: IsoDateTime | None = None
    respond_by: IsoDateTime | None = None
    withheld: Literal["consent-not-covering"] | None = Field(
        default=None, description="in a list: no valid consent covers this referral now, so only id and status")

    @model_serializer(mode="wrap")
    def _profile_fields_only(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        dumped: dict[str, Any] = handler(self)
        return {k: v for k, v in dumped.items() if k in self.model_fields_set}


class ServiceReferralOut(BaseModel):
    """The referring agency's view."""

    id: str
    service_id: str
    organization_id: str
    status: ReferralStatus
    reason_code: str | None = None
    participant_name: str
    contact: ParticipantContact
    need: str
    need_category: str | None = None
    appointment_preference: str | None = None
    redisclosure_notice: str
    requested_at: IsoDateTime
    respond_by: IsoDateTime
    updated_at: IsoDateTime
    allowed_next: list[str]
    case_id: str
    participant_id: str
    consent_id: str
    consent: ConsentScope
    note: str | None = None
    requested_by: str
    escalated_at: IsoDateTime | None = None


class ServiceReferralQuery(_Query):
    status: ReferralStatus | None = None
    case_id: str | None = Field(default=None, max_length=100)
    participant_id: str | None = Field(default=None, max_length=100)
    service_id: str | None = Field(default=None, max_length=36)


class ServiceReferralStatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: ReferralStatus
    reason_code: str | None = Field(default=None, max_length=40)
    note: str | None = Field(default=None, max_length=2000)


class ServiceReferralHistoryOut(BaseModel):
    from_status: str | None
    to_status: str
    reason_code: str | None = None
    note: str | None = None
    changed_by: str
    changed_by_role: str
    changed_at: IsoDateTime


# --- the HSDS profile's parameters (the official OpenAPI's components/parameters) ------------------------


class _HsdsQuery(BaseModel):
    # Unknown parameters are ignored, as a public read API should (cache busters, a client's extras).
    model_config = ConfigDict(extra="ignore")

    @field_validator("*", mode="before")
    @classmethod
    def _printable(cls, value: Any) -> Any:
        if isinstance(value, str) and not _TEXT.fullmatch(value):  # the edge's rule: tab, LF and CR are text
            raise ValueError("control characters are not allowed")
        return value


class HsdsPageQuery(_HsdsQuery):
    search: str | None = Field(default=None, max_length=200, description="Full text search.")
    page: int = Field(default=1, ge=1, le=1_000_000, description="Page number of paginated result.")
    per_page: int = Field(default=50, ge=1, le=1000, description="Number of results requested in a single page.")
    format: Literal["json", "ndjson"] = Field(
        default="json", description="`json` (paginated), or `ndjson`: every result, one per line, unpaginated.")


class HsdsFilters(HsdsPageQuery):
    taxonomy_term_id: str | None = Field(default=None, max_length=64)
    taxonomy_id: str | None = Field(default=None, max_length=64)
    organization_id: str | None = Field(default=None, max_length=64)
    modified_after: IsoDateTime | None = Field(default=None, description="modified on or after (RFC 3339)")
    full: bool = False


class HsdsServicesQuery(HsdsFilters):
    minimal: bool = Field(default=False, description="only id, name, status and last_modified of each service")


class HsdsServiceAtLocationsQuery(HsdsFilters):
    postcode: str | None = Field(default=None, min_length=1, max_length=20)
    proximity: float | None = Field(default=None, gt=0, le=20_000_000, description="meters from the postcode")


class HsdsOrganizationsQuery(HsdsPageQuery):
    full: bool = False
    full_service: bool = False


class HsdsOrganizationQuery(_HsdsQuery):
    full_service: bool = False


class HsdsTaxonomyTermsQuery(HsdsPageQuery):
    taxonomy_id: str | None = Field(default=None, max_length=64)
    top_only: bool = Field(default=False, description="only terms without a parent")
    parent_id: str | None = Field(default=None, max_length=64)


# --- sharing profiles (ADR 0070) ---------------------------------------------------------------------


class SharingProfileIn(BaseModel):
    """Which fields one partner organization receives from this agency (API, webhooks and AMQP feed alike).
    `service_referral_id` and `status` are always named; charges, history, case numbers, notes, casework ids
    and staff identities can never be."""

    model_config = ConfigDict(extra="forbid")

    fields: list[str] = Field(min_length=2, max_length=30)
    contact_methods: list[Literal["phone", "email"]] = Field(default=["phone", "email"], max_length=2)


class SharingProfileOut(BaseModel):
    organization_id: str
    fields: list[str]
    contact_methods: list[str]
    source: Literal["default", "agency"] = Field(description="default: the suite's safe default applies")
    version: int = 0
    updated_by: str | None = None
    updated_at: IsoDateTime | None = None
