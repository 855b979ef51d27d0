"""Resources' tables (its own database): the HSDS 3.0 directory, its search index, and service referrals.

Each HSDS table has the columns of its record in `directory.model` (same names), so a row converts to
and from a `Record` without a mapping table; a few columns of our own sit beside them (a service's
capacity flag, version and SLA). The `service_search*` tables are derived from the directory by
`services.resources.store.refresh_search` and hold nothing that cannot be rebuilt.
"""

from __future__ import annotations

import datetime as dt
import types
import typing
import uuid
from typing import Any, Literal

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    Time,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeEngine

from services.resources.directory.model import RECORD_TYPES, Record
from services.resources.directory.model import Service as ServiceRecord
from shared.audit import audit_table
from shared.idempotency import idempotency_table
from shared.messaging.tables import add_messaging_tables
from shared.records import add_record_tables
from shared.timestamps import UtcDateTime


class Base(DeclarativeBase):
    pass


AuditEvent = audit_table(Base.metadata)
Messaging = add_messaging_tables(Base.metadata)
IdempotencyKey = idempotency_table(Base.metadata)
RECORDS = add_record_tables(Base.metadata)  # sealed marks and erasure tombstones (ADR 0083)

_Id = BigInteger().with_variant(Integer(), "sqlite")


# --- the HSDS directory -----------------------------------------------------------------------------


def _sql_type(annotation: Any) -> TypeEngine[Any]:
    """The column type for a record field's annotation (Optional unwrapped)."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        if set(args) == {int, float}:
            return Float()
        return _sql_type(args[0])
    if typing.get_origin(annotation) is Literal:
        return String(40)
    types_by_python: dict[Any, TypeEngine[Any]] = {
        uuid.UUID: String(36),
        str: Text(),
        int: Float(),
        float: Float(),
        dt.date: Date(),
        dt.datetime: UtcDateTime(),
        dt.time: Time(),
    }
    return types_by_python[annotation]


def hsds_columns(record: type[Record]) -> list[Column[Any]]:
    """One column per field of the HSDS record, `id` first; ids and foreign keys are indexed strings."""
    columns: list[Column[Any]] = []
    for name, info in record.model_fields.items():
        if name == "id":
            columns.append(Column("id", String(36), primary_key=True))
            continue
        indexed = name in record.references or name in ("link_id", "resource_id")
        columns.append(Column(name, _sql_type(info.annotation), nullable=not info.is_required(), index=indexed))
    return columns


# The organization table predates the rest (resources_0001) with an id of 64 characters and a few
# bounded strings; its other HSDS columns came with resources_0003.
ORGANIZATION = Table(
    "organization",
    Base.metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(300), nullable=False, index=True),
    Column("alternate_name", String(300)),
    Column("description", Text, nullable=False, server_default=""),
    Column("email", String(254)),
    Column("website", String(500)),
    Column("tax_status", Text),
    Column("tax_id", Text),
    Column("year_incorporated", Float),
    Column("legal_status", Text),
    Column("logo", Text),
    Column("uri", Text),
    Column("parent_organization_id", String(36)),
)

SERVICE = Table(
    "service",
    Base.metadata,
    *hsds_columns(ServiceRecord),
    # Ours, not HSDS: set by the partner; a closed service takes no referrals.
    Column("capacity", String(20), nullable=False, server_default="accepting"),
    # Hours a partner has to acknowledge a referral before it escalates; NULL = the service default.
    Column("referral_sla_hours", Float),
    Column("version", Integer, nullable=False, server_default="1"),
)

# Ours, not HSDS: the agency whose partner logins may edit an organization's listings, set by a
# directory_admin (ADR 0031). Not part of an import, so re-importing the directory keeps it.
DIRECTORY_STEWARD = Table(
    "directory_steward",
    Base.metadata,
    Column("organization_id", String(64), primary_key=True),
    Column("agency_id", String(64), nullable=False),
    Column("assigned_by", String(200), nullable=False),
    Column("assigned_at", UtcDateTime(), nullable=False),
)

# table name in the database for each Directory table (HSDS kinds, singular like `organization`).
HSDS_TABLES: dict[str, Table] = {"organizations": ORGANIZATION, "services": SERVICE}
for _record in RECORD_TYPES:
    if _record.table not in HSDS_TABLES:
        HSDS_TABLES[_record.table] = Table(_record.kind, Base.metadata, *hsds_columns(_record))

LOCATION = HSDS_TABLES["locations"]
SERVICE_AT_LOCATION = HSDS_TABLES["service_at_locations"]
ADDRESS = HSDS_TABLES["addresses"]
SCHEDULE = HSDS_TABLES["schedules"]
TAXONOMY = HSDS_TABLES["taxonomies"]
TAXONOMY_TERM = HSDS_TABLES["taxonomy_terms"]
ATTRIBUTE = HSDS_TABLES["attributes"]


# --- search index (derived) -------------------------------------------------------------------------

# One row per service with the text that full-text search reads. PostgreSQL adds a generated
# `document tsvector` column with a GIN index; SQLite an FTS5 table kept in step by triggers
# (both created by the migration, not declared here).
SERVICE_SEARCH = Table(
    "service_search",
    Base.metadata,
    Column("service_id", String(36), primary_key=True),
    Column("organization_id", String(64), nullable=False, index=True),
    Column("name", Text, nullable=False),
    Column("organization_name", Text, nullable=False),
    Column("need_labels", Text, nullable=False, server_default=""),
    Column("description", Text, nullable=False, server_default=""),
    Column("status", String(40), nullable=False),
    Column("capacity", String(20), nullable=False),
    Index("ix_service_search_name", "name", "service_id"),
)
SERVICE_NEED = Table(
    "service_search_need",
    Base.metadata,
    Column("need", String(40), nullable=False),
    Column("service_id", String(36), nullable=False),
    PrimaryKeyConstraint("need", "service_id"),
    Index("ix_service_search_need_service", "service_id"),
)
SERVICE_POINT = Table(
    "service_search_point",
    Base.metadata,
    Column("service_id", String(36), nullable=False, index=True),
    Column("location_id", String(36), nullable=False),
    Column("latitude", Float, nullable=False),
    Column("longitude", Float, nullable=False),
    PrimaryKeyConstraint("service_id", "location_id"),
    Index("ix_service_search_point_box", "latitude", "longitude", "service_id"),  # migration 0004
)
SERVICE_HOURS = Table(
    "service_search_hours",
    Base.metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("service_id", String(36), nullable=False, index=True),
    Column("weekday", SmallInteger, nullable=False),  # 0 = Monday
    Column("opens_minute", SmallInteger, nullable=False),  # minutes after local midnight
    Column("closes_minute", SmallInteger, nullable=False),  # exclusive; 1440 = midnight
    Index("ix_service_search_hours_day", "weekday", "opens_minute", "closes_minute"),
)


# --- service referrals ------------------------------------------------------------------------------


class ServiceReferral(Base):
    """A participant referred by an agency's case manager to a partner's service (FHIR Task-like)."""

    __tablename__ = "service_referral"
    __table_args__ = (
        Index("ix_service_referral_agency_case", "agency_id", "case_id"),
        Index("ix_service_referral_org", "agency_id", "organization_id", "status"),
        Index("ix_service_referral_due", "status", "escalated_at", "respond_by"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[str] = mapped_column(String(100))
    participant_id: Mapped[str] = mapped_column(String(100))
    participant_name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(30))
    email: Mapped[str | None] = mapped_column(String(254))
    preferred_language: Mapped[str] = mapped_column(String(20), default="en")
    need: Mapped[str] = mapped_column(String(500))
    need_category: Mapped[str | None] = mapped_column(String(40))
    appointment_preference: Mapped[str | None] = mapped_column(String(500))
    service_id: Mapped[str] = mapped_column(String(36), index=True)
    organization_id: Mapped[str] = mapped_column(String(64))
    consent_id: Mapped[str] = mapped_column(String(100))
    consent_categories: Mapped[list[str]] = mapped_column(JSON)
    consent_purpose: Mapped[str] = mapped_column(String(50))
    redisclosure_notice: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20))
    reason_code: Mapped[str | None] = mapped_column(String(40))
    note: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    requested_by: Mapped[str] = mapped_column(String(200))
    requested_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    respond_by: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    escalated_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())


class ServiceReferralHistory(Base):
    """Every status a referral went through, who set it and why (append-only)."""

    __tablename__ = "service_referral_history"

    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
    service_referral_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("service_referral.id", ondelete="CASCADE"), index=True
    )
    agency_id: Mapped[str] = mapped_column(String(64))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    reason_code: Mapped[str | None] = mapped_column(String(40))
    note: Mapped[str | None] = mapped_column(Text)
    changed_by: Mapped[str] = mapped_column(String(200))
    changed_by_role: Mapped[str] = mapped_column(String(40))
    changed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class CaseloadEntry(Base):
    """Casework's cases as resources knows them from `case.opened` and `case.assigned` (ADR 0071): whose
    participant each case is and the `sub` of its case manager, so the caseload rule is casework's."""

    __tablename__ = "caseload_entry"
    __table_args__ = (Index("ix_caseload_agency_participant", "agency_id", "participant_id"),)

    agency_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    case_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    participant_id: Mapped[str | None] = mapped_column(String(100))
    case_manager: Mapped[str | None] = mapped_column(String(200))
    assigned_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class SharingProfileRow(Base):
    """An agency's data-sharing profile for one partner organization (ADR 0070): which fields the partner
    receives through the API, webhooks and AMQP feed. No row: `shared.disclosure.DEFAULT_PROFILE`."""

    __tablename__ = "sharing_profile"

    agency_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organization_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    fields: Mapped[list[str]] = mapped_column(JSON)
    contact_methods: Mapped[list[str]] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
