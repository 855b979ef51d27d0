"""The normalized, in-memory resource directory: one pydantic model per HSDS 3.0 table, flat rows with ids.

Each record class maps 1:1 to an HSDS tabular table (same field names, nested arrays replaced by
foreign keys), so a database layer can map it 1:1 to tables. Fields the HSDS schema leaves optional
stay `None` when a source does not give them.

Over 400 lines on purpose: it is the HSDS schema itself, one class per table (22), read top to bottom like
the specification; split, the tables' foreign keys would point across files.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer

Number = int | float
LocationType = Literal["physical", "postal", "virtual"]
ServiceStatus = Literal["active", "inactive", "defunct", "temporarily closed"]
Weekday = Literal["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
Frequency = Literal["WEEKLY", "MONTHLY"]


class Record(BaseModel):
    """A row of one HSDS table."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    kind: ClassVar[str]  # HSDS schema name, e.g. "phone"
    table: ClassVar[str]  # Directory attribute and HSDS tabular file stem, e.g. "phones"
    # Foreign keys: field -> table it points at. A required one always resolves inside the Directory;
    # an optional one may name a record outside it (a parent organization in another feed) and is kept.
    references: ClassVar[dict[str, str]] = {}

    id: uuid.UUID

    def hsds(self) -> dict[str, Any]:
        """The HSDS JSON fields of this row, unset ones left out."""
        return self.model_dump(mode="json", exclude_none=True)


class Organization(Record):
    kind = "organization"
    table = "organizations"
    references = {"parent_organization_id": "organizations"}

    name: str
    alternate_name: str | None = None
    # Required by HSDS; "" when the source gives no description.
    description: str = ""
    email: str | None = None
    website: str | None = None
    tax_status: str | None = None
    tax_id: str | None = None
    year_incorporated: Number | None = None
    legal_status: str | None = None
    logo: str | None = None
    uri: str | None = None
    parent_organization_id: uuid.UUID | None = None


class Service(Record):
    kind = "service"
    table = "services"
    references = {"organization_id": "organizations", "program_id": "programs"}

    organization_id: uuid.UUID
    program_id: uuid.UUID | None = None
    name: str
    alternate_name: str | None = None
    description: str | None = None
    url: str | None = None
    email: str | None = None
    status: ServiceStatus = "active"
    interpretation_services: str | None = None
    application_process: str | None = None
    fees_description: str | None = None
    wait_time: str | None = None
    fees: str | None = None
    accreditations: str | None = None
    eligibility_description: str | None = None
    minimum_age: Number | None = None
    maximum_age: Number | None = None
    # When someone last confirmed this service's details are right (HSDS `assured_date`).
    assured_date: date | None = None
    assurer_email: str | None = None
    licenses: str | None = None
    alert: str | None = None
    last_modified: datetime | None = None

    @field_serializer("last_modified", when_used="json-unless-none")
    def _instant(self, value: datetime) -> str:
        # As precise as the source gave it ("...45.123Z" comes back as "...45.123Z", not "...45.123000Z").
        spec = "seconds" if not value.microsecond else "milliseconds" if not value.microsecond % 1000 \
            else "microseconds"
        text = value.isoformat(timespec=spec)
        return text.removesuffix("+00:00") + "Z" if text.endswith("+00:00") else text


class Location(Record):
    kind = "location"
    table = "locations"
    references = {"organization_id": "organizations"}

    location_type: LocationType
    url: str | None = None
    organization_id: uuid.UUID | None = None
    name: str | None = None
    alternate_name: str | None = None
    description: str | None = None
    transportation: str | None = None
    latitude: Number | None = None
    longitude: Number | None = None
    external_identifier: str | None = None
    external_identifier_type: str | None = None


class ServiceAtLocation(Record):
    kind = "service_at_location"
    table = "service_at_locations"
    references = {"service_id": "services", "location_id": "locations"}

    service_id: uuid.UUID
    location_id: uuid.UUID
    description: str | None = None


class Address(Record):
    kind = "address"
    table = "addresses"
    references = {"location_id": "locations"}

    location_id: uuid.UUID | None = None
    attention: str | None = None
    address_1: str
    address_2: str | None = None
    city: str
    region: str | None = None
    state_province: str
    postal_code: str
    country: str
    address_type: LocationType


class Contact(Record):
    kind = "contact"
    table = "contacts"
    references = {
        "organization_id": "organizations",
        "service_id": "services",
        "service_at_location_id": "service_at_locations",
        "location_id": "locations",
    }

    organization_id: uuid.UUID | None = None
    service_id: uuid.UUID | None = None
    service_at_location_id: uuid.UUID | None = None
    location_id: uuid.UUID | None = None
    name: str | None = None
    title: str | None = None
    department: str | None = None
    email: str | None = None


class Phone(Record):
    kind = "phone"
    table = "phones"
    references = {
        "location_id": "locations",
        "service_id": "services",
        "organization_id": "organizations",
        "contact_id": "contacts",
        "service_at_location_id": "service_at_locations",
    }

    location_id: uuid.UUID | None = None
    service_id: uuid.UUID | None = None
    organization_id: uuid.UUID | None = None
    contact_id: uuid.UUID | None = None
    service_at_location_id: uuid.UUID | None = None
    number: str
    extension: Number | None = None
    type: str | None = None
    description: str | None = None


class Schedule(Record):
    kind = "schedule"
    table = "schedules"
    references = {
        "service_id": "services",
        "location_id": "locations",
        "service_at_location_id": "service_at_locations",
    }

    service_id: uuid.UUID | None = None
    location_id: uuid.UUID | None = None
    service_at_location_id: uuid.UUID | None = None
    valid_from: date | None = None
    valid_to: date | None = None
    dtstart: date | None = None
    timezone: Number | None = None
    until: date | None = None
    count: Number | None = None
    wkst: Weekday | None = None
    freq: Frequency | None = None
    interval: Number | None = None
    byday: str | None = None
    byweekno: str | None = None
    bymonthday: str | None = None
    byyearday: str | None = None
    description: str | None = None
    opens_at: time | None = None
    closes_at: time | None = None
    schedule_link: str | None = None
    attending_type: str | None = None
    notes: str | None = None


class Language(Record):
    kind = "language"
    table = "languages"
    references = {"service_id": "services", "location_id": "locations", "phone_id": "phones"}

    service_id: uuid.UUID | None = None
    location_id: uuid.UUID | None = None
    phone_id: uuid.UUID | None = None
    name: str | None = None
    code: str | None = None
    note: str | None = None


class ServiceArea(Record):
    kind = "service_area"
    table = "service_areas"
    references = {"service_id": "services"}

    service_id: uuid.UUID | None = None
    name: str | None = None
    description: str | None = None
    extent: str | None = None
    extent_type: str | None = None
    uri: str | None = None


class Taxonomy(Record):
    kind = "taxonomy"
    table = "taxonomies"

    name: str
    description: str = ""
    uri: str | None = None
    version: str | None = None


class TaxonomyTerm(Record):
    kind = "taxonomy_term"
    table = "taxonomy_terms"
    references = {"parent_id": "taxonomy_terms", "taxonomy_id": "taxonomies"}

    code: str | None = None
    name: str
    description: str = ""
    parent_id: uuid.UUID | None = None
    taxonomy: str | None = None
    language: str | None = None
    taxonomy_id: uuid.UUID | None = None
    term_uri: str | None = None


class Program(Record):
    kind = "program"
    table = "programs"
    references = {"organization_id": "organizations"}

    organization_id: uuid.UUID | None = None
    name: str
    alternate_name: str | None = None
    description: str = ""


class Funding(Record):
    kind = "funding"
    table = "funding"
    references = {"organization_id": "organizations", "service_id": "services"}

    organization_id: uuid.UUID | None = None
    service_id: uuid.UUID | None = None
    source: str | None = None


class Accessibility(Record):
    kind = "accessibility"
    table = "accessibility"
    references = {"location_id": "locations"}

    location_id: uuid.UUID | None = None
    description: str | None = None
    details: str | None = None
    url: str | None = None


class CostOption(Record):
    kind = "cost_option"
    table = "cost_options"
    references = {"service_id": "services"}

    service_id: uuid.UUID | None = None
    # Text in HSDS (no date format), so kept exactly as given.
    valid_from: str | None = None
    valid_to: str | None = None
    option: str | None = None
    currency: str | None = None
    amount: Number | None = None
    amount_description: str | None = None


class RequiredDocument(Record):
    kind = "required_document"
    table = "required_documents"
    references = {"service_id": "services"}

    service_id: uuid.UUID | None = None
    document: str | None = None
    uri: str | None = None


class OrganizationIdentifier(Record):
    kind = "organization_identifier"
    table = "organization_identifiers"
    references = {"organization_id": "organizations"}

    organization_id: uuid.UUID | None = None
    identifier_scheme: str | None = None
    identifier_type: str
    identifier: str


class Attribute(Record):
    """Links a taxonomy term to any entity: how a service gets its need categories."""

    kind = "attribute"
    table = "attributes"
    references = {"taxonomy_term_id": "taxonomy_terms"}  # link_id is checked against `link_entity`'s table

    link_id: uuid.UUID
    taxonomy_term_id: uuid.UUID
    link_type: str | None = None
    link_entity: str
    value: str | None = None


class Metadata(Record):
    """A change to any record (HSDS metadata); `resource_id` is the record, whichever table it is in."""

    kind = "metadata"
    table = "metadata"

    resource_id: uuid.UUID | None = None
    resource_type: str | None = None
    # Text in HSDS (no date format), so kept exactly as given.
    last_action_date: str
    last_action_type: str
    field_name: str
    previous_value: str
    replacement_value: str
    updated_by: str


RECORD_TYPES: tuple[type[Record], ...] = (
    Organization,
    Service,
    Location,
    ServiceAtLocation,
    Address,
    Contact,
    Phone,
    Schedule,
    Language,
    ServiceArea,
    Taxonomy,
    TaxonomyTerm,
    Attribute,
    Program,
    Funding,
    Accessibility,
    CostOption,
    RequiredDocument,
    OrganizationIdentifier,
    Metadata,
)
RECORD_BY_KIND: dict[str, type[Record]] = {r.kind: r for r in RECORD_TYPES}
RECORD_BY_TABLE: dict[str, type[Record]] = {r.table: r for r in RECORD_TYPES}
# Attribute.link_entity names a table; HSDS examples use the singular kind, some feeds the plural.
LINK_ENTITY_TABLES: dict[str, str] = {
    **{r.kind: r.table for r in RECORD_TYPES},
    **{r.table: r.table for r in RECORD_TYPES},
}


class Directory(BaseModel):
    """Every table of a directory. Every reference between rows resolves inside the directory."""

    model_config = ConfigDict(extra="forbid")

    organizations: list[Organization] = Field(default_factory=list)
    services: list[Service] = Field(default_factory=list)
    locations: list[Location] = Field(default_factory=list)
    service_at_locations: list[ServiceAtLocation] = Field(default_factory=list)
    addresses: list[Address] = Field(default_factory=list)
    contacts: list[Contact] = Field(default_factory=list)
    phones: list[Phone] = Field(default_factory=list)
    schedules: list[Schedule] = Field(default_factory=list)
    languages: list[Language] = Field(default_factory=list)
    service_areas: list[ServiceArea] = Field(default_factory=list)
    taxonomies: list[Taxonomy] = Field(default_factory=list)
    taxonomy_terms: list[TaxonomyTerm] = Field(default_factory=list)
    attributes: list[Attribute] = Field(default_factory=list)
    programs: list[Program] = Field(default_factory=list)
    funding: list[Funding] = Field(default_factory=list)
    accessibility: list[Accessibility] = Field(default_factory=list)
    cost_options: list[CostOption] = Field(default_factory=list)
    required_documents: list[RequiredDocument] = Field(default_factory=list)
    organization_identifiers: list[OrganizationIdentifier] = Field(default_factory=list)
    metadata: list[Metadata] = Field(default_factory=list)

    def rows(self, table: str) -> list[Record]:
        rows: list[Record] = getattr(self, table)
        return rows

    def get(self, table: str, record_id: uuid.UUID) -> Record | None:
        return next((r for r in self.rows(table) if r.id == record_id), None)

    def organization_named(self, name: str) -> Organization | None:
        return next((o for o in self.organizations if o.name == name), None)

    def services_of(self, organization_id: uuid.UUID) -> list[Service]:
        return [s for s in self.services if s.organization_id == organization_id]

    def locations_of(self, organization_id: uuid.UUID) -> list[Location]:
        return [loc for loc in self.locations if loc.organization_id == organization_id]

    def terms_of(self, link_id: uuid.UUID) -> list[TaxonomyTerm]:
        """The taxonomy terms attached (through attributes) to the record with this id."""
        term_ids = {a.taxonomy_term_id for a in self.attributes if a.link_id == link_id}
        return [t for t in self.taxonomy_terms if t.id in term_ids]

    def counts(self) -> dict[str, int]:
        return {r.table: len(self.rows(r.table)) for r in RECORD_TYPES}

    def normalized(self) -> dict[str, list[dict[str, Any]]]:
        """Every table as JSON rows sorted by id: two directories with the same content compare equal."""
        return {
            r.table: sorted(
                (row.model_dump(mode="json") for row in self.rows(r.table)), key=lambda d: d["id"]
            )
            for r in RECORD_TYPES
        }
