"""Casework's tables (its own database): staff, participants, cases, plans, supervision, consents, alerts.

Every agency-owned row carries `agency_id` and is looked up by `(agency_id, id)`. Mutable rows have a
`version` column: the ETag clients send back in If-Match.

Over 400 lines on purpose: one module of the service's tables, like every service's `models.py`; each table
is declarative and splitting them would scatter the relationships between them.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.audit import audit_table
from shared.idempotency import idempotency_table
from shared.messaging.tables import add_messaging_tables
from shared.records import add_record_tables
from shared.timestamps import UtcDateTime


class Base(DeclarativeBase):
    type_annotation_map = {
        dict[str, Any]: JSON,
        list[str]: JSON,
        list[dict[str, Any]]: JSON,
        dt.datetime: UtcDateTime(),
    }


AuditEvent = audit_table(Base.metadata)
Messaging = add_messaging_tables(Base.metadata)
IdempotencyKey = idempotency_table(Base.metadata)
RECORDS = add_record_tables(Base.metadata)  # sealed marks and erasure tombstones (ADR 0083)

Id = String(64)


class Staff(Base):
    """A case manager or supervisor of an agency, with the programs served and a caseload cap."""

    __tablename__ = "staff"
    __table_args__ = (UniqueConstraint("agency_id", "email"),)

    id: Mapped[str] = mapped_column(Id, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254))
    role: Mapped[str] = mapped_column(String(32), default="case_manager")
    programs: Mapped[list[str]] = mapped_column(JSON, default=list)
    caseload_cap: Mapped[int] = mapped_column(Integer, default=25)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # The token `sub` of this person: how a case manager's calls are matched to their caseload.
    subject: Mapped[str | None] = mapped_column(String(200), nullable=True)
    phone: Mapped[str | None] = mapped_column(String(30), nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    # When the member was last deactivated: how long their cases have waited for reassignment.
    deactivated_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)


class AgencyConfig(Base):
    """Per-agency casework settings (the assignment strategy); absent rows use the service default."""

    __tablename__ = "agency_config"

    agency_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    assignment_strategy: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[dt.datetime] = mapped_column()
    updated_by: Mapped[str] = mapped_column(String(200))


class Participant(Base):
    """The participant's minimum record, copied from `referral.accepted` (never charges or history)."""

    __tablename__ = "participant"

    id: Mapped[str] = mapped_column(Id, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64), index=True)
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    date_of_birth: Mapped[dt.date] = mapped_column(Date)
    phone: Mapped[str | None] = mapped_column(String(30), nullable=True)
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    preferred_language: Mapped[str] = mapped_column(String(20), default="en")
    sex: Mapped[str | None] = mapped_column(String(40), nullable=True)
    race: Mapped[str | None] = mapped_column(String(80), nullable=True)
    ethnicity: Mapped[str | None] = mapped_column(String(80), nullable=True)
    age_at_referral: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column()
    address_line1: Mapped[str | None] = mapped_column(String(200), nullable=True)
    address_line2: Mapped[str | None] = mapped_column(String(200), nullable=True)
    city: Mapped[str | None] = mapped_column(String(100), nullable=True)
    region: Mapped[str | None] = mapped_column(String(100), nullable=True)
    postal_code: Mapped[str | None] = mapped_column(String(20), nullable=True)
    # The person this record is one of (ADR 0071): the first participant record of a person referred again,
    # linked by intake's duplicate match or by staff; None while the record stands alone (or is that first).
    person_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    # Unaccented, casefolded "first last" (domain/search.py): the search matches on it on every database.
    search_key: Mapped[str] = mapped_column(String(210), default="", index=True)
    # Fields staff corrected: events never overwrite them (domain/corrections.py).
    staff_set_fields: Mapped[list[str]] = mapped_column(JSON, default=list)
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)


class ChangeRecord(Base):
    """One correction of a staff member or a participant: who, when, which fields, old -> new."""

    __tablename__ = "change_history"
    __table_args__ = (Index("ix_change_resource", "agency_id", "resource_type", "resource_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    resource_type: Mapped[str] = mapped_column(String(32))
    resource_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    changed_at: Mapped[dt.datetime] = mapped_column()
    changed_by: Mapped[str] = mapped_column(String(200))
    changes: Mapped[list[dict[str, Any]]] = mapped_column(JSON)


class CaseRecord(Base):
    """One diversion case (the domain's `Case` plus the program bounds it was opened with)."""

    __tablename__ = "diversion_case"
    __table_args__ = (
        UniqueConstraint("agency_id", "referral_id", name="uq_case_agency_referral"),
        Index("ix_case_agency_state", "agency_id", "state"),
        Index("ix_case_manager_state", "case_manager_id", "state"),
    )

    id: Mapped[str] = mapped_column(Id, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    referral_id: Mapped[str] = mapped_column(String(100))
    case_number: Mapped[str] = mapped_column(String(100))
    participant_id: Mapped[str] = mapped_column(ForeignKey("participant.id"))
    program_id: Mapped[str] = mapped_column(String(64))
    min_months: Mapped[int] = mapped_column(Integer)
    max_months: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(32))
    case_manager_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    referred_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    opened_on: Mapped[dt.date] = mapped_column(Date)
    start_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    expected_end_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    closed_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    disposition: Mapped[str | None] = mapped_column(String(32), nullable=True)
    termination_reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    termination_detail: Mapped[str | None] = mapped_column(Text, nullable=True)
    withdrawal_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    override: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    extensions: Mapped[int] = mapped_column(Integer, default=0)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column()
    updated_at: Mapped[dt.datetime] = mapped_column()


class CaseAssignment(Base):
    """Assignment history: the first assignment and every reassignment of a case."""

    __tablename__ = "case_assignment"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[str] = mapped_column(ForeignKey("diversion_case.id"), index=True)
    case_manager_id: Mapped[str] = mapped_column(String(64), index=True)
    previous_case_manager_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    assigned_at: Mapped[dt.datetime] = mapped_column()
    assigned_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    strategy: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class Assessment(Base):
    """One needs assessment of a case; each new assessment is the next version (append-only)."""

    __tablename__ = "assessment"
    __table_args__ = (UniqueConstraint("case_id", "version", name="uq_assessment_version"),)

    id: Mapped[str] = mapped_column(Id, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[str] = mapped_column(ForeignKey("diversion_case.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    assessed_on: Mapped[dt.date] = mapped_column(Date)
    assessed_by: Mapped[str] = mapped_column(String(200))
    domains: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column()


class PlanVersion(Base):
    """Every saved version of a case's support plan; the highest version is current (and the ETag).

    Two editors saving on the same version collide on the unique key: one wins, the other gets 412.
    """

    __tablename__ = "plan_version"
    __table_args__ = (UniqueConstraint("case_id", "version", name="uq_plan_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[str] = mapped_column(ForeignKey("diversion_case.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    goals: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    change: Mapped[str] = mapped_column(String(64))
    updated_on: Mapped[dt.date] = mapped_column(Date)
    updated_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column()


class PlanReferralLink(Base):
    """Which case's plan links a service referral, so `service_referral.status_changed` finds its goals."""

    __tablename__ = "plan_referral_link"

    agency_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    service_referral_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("diversion_case.id"), primary_key=True)


class ConditionRecord(Base):
    __tablename__ = "case_condition"

    id: Mapped[str] = mapped_column(Id, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[str] = mapped_column(ForeignKey("diversion_case.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(Text)
    unit: Mapped[str | None] = mapped_column(String(16), nullable=True)
    required_amount: Mapped[Decimal | None] = mapped_column(Numeric(12, 2), nullable=True)
    # Met by the case manager's word (general, therapeutic); a make-whole condition's progress, met and met_on
    # are derived from its ledger (condition_payment, condition_hours), never stored as a running total.
    met: Mapped[bool] = mapped_column(Boolean, default=False)
    met_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    waived_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    waived_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    waiver_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column()


class ConditionPayment(Base):
    """One payment toward a make-whole condition in dollars (append-only; the balance is derived from these)."""

    __tablename__ = "condition_payment"
    __table_args__ = (Index("ix_condition_payment_condition", "condition_id", "paid_on", "id"),)

    id: Mapped[str] = mapped_column(Id, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[str] = mapped_column(ForeignKey("diversion_case.id"), index=True)
    condition_id: Mapped[str] = mapped_column(ForeignKey("case_condition.id"))
    paid_on: Mapped[dt.date] = mapped_column(Date)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    method: Mapped[str] = mapped_column(String(32))
    receipt_number: Mapped[str | None] = mapped_column(String(100), nullable=True)
    recorded_by: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[dt.datetime] = mapped_column()


class ConditionHours(Base):
    """Community-service hours toward a make-whole condition in hours (append-only, like payments)."""

    __tablename__ = "condition_hours"
    __table_args__ = (Index("ix_condition_hours_condition", "condition_id", "served_on", "id"),)

    id: Mapped[str] = mapped_column(Id, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[str] = mapped_column(ForeignKey("diversion_case.id"), index=True)
    condition_id: Mapped[str] = mapped_column(ForeignKey("case_condition.id"))
    served_on: Mapped[dt.date] = mapped_column(Date)
    hours: Mapped[Decimal] = mapped_column(Numeric(7, 2))
    site: Mapped[str] = mapped_column(String(300))
    verified_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    recorded_by: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[dt.datetime] = mapped_column()


class ConditionRevision(Base):
    """History of a condition: every edit and waiver, with the fields before and after, who and why."""

    __tablename__ = "condition_revision"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[str] = mapped_column(ForeignKey("diversion_case.id"), index=True)
    condition_id: Mapped[str] = mapped_column(ForeignKey("case_condition.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(32))
    changes: Mapped[dict[str, Any]] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(Text)
    changed_by: Mapped[str] = mapped_column(String(200))
    changed_at: Mapped[dt.datetime] = mapped_column()


class ContactRecord(Base):
    """A contact or check-in (scheduled, completed, missed or cancelled)."""

    __tablename__ = "case_contact"
    __table_args__ = (Index("ix_contact_status_time", "status", "scheduled_for"),)

    id: Mapped[str] = mapped_column(Id, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[str] = mapped_column(ForeignKey("diversion_case.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    scheduled_for: Mapped[dt.datetime] = mapped_column()
    status: Mapped[str] = mapped_column(String(16))
    completed_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    notes: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(Integer, default=1)


class AppointmentRecord(Base):
    __tablename__ = "appointment"
    __table_args__ = (Index("ix_appointment_agency_kind", "agency_id", "kind"),)

    id: Mapped[str] = mapped_column(Id, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[str] = mapped_column(ForeignKey("diversion_case.id"), index=True)
    starts_at: Mapped[dt.datetime] = mapped_column()
    ends_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    kind: Mapped[str] = mapped_column(String(50))
    with_whom: Mapped[str] = mapped_column(String(200))
    location: Mapped[str | None] = mapped_column(String(300), nullable=True)
    service_referral_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer, default=1)
    # A court hearing's court fields (services/casework/domain/appointments.py: kinds as data).
    court: Mapped[str | None] = mapped_column(String(200), nullable=True)
    division: Mapped[str | None] = mapped_column(String(100), nullable=True)
    docket_number: Mapped[str | None] = mapped_column(String(64), nullable=True)
    kind_label: Mapped[str | None] = mapped_column(String(50), nullable=True)  # the free text before kinds
    cancel_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)


class IncidentRecord(Base):
    __tablename__ = "incident"

    id: Mapped[str] = mapped_column(Id, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[str] = mapped_column(ForeignKey("diversion_case.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    occurred_on: Mapped[dt.date] = mapped_column(Date)
    description: Mapped[str] = mapped_column(Text)
    response: Mapped[str] = mapped_column(String(32))
    suggested_response: Mapped[str] = mapped_column(String(32))
    responded_by: Mapped[str] = mapped_column(String(200))
    contact_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column()


class ConsentRecord(Base):
    """A 42 CFR Part 2 consent with every §2.31 element, §2.35 deferral terms and its revocation."""

    __tablename__ = "consent"

    id: Mapped[str] = mapped_column(Id, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    participant_id: Mapped[str] = mapped_column(ForeignKey("participant.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    participant_name: Mapped[str] = mapped_column(String(200))
    discloser: Mapped[str] = mapped_column(String(300))
    categories: Mapped[list[str]] = mapped_column(JSON)
    recipient_org_id: Mapped[str] = mapped_column(String(200))
    recipient_name: Mapped[str] = mapped_column(String(300))
    purposes: Mapped[list[str]] = mapped_column(JSON)
    right_to_revoke_acknowledged: Mapped[bool] = mapped_column(Boolean)
    revocation_instructions: Mapped[str] = mapped_column(Text, default="")
    expires_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    expiry_event: Mapped[str | None] = mapped_column(String(40), nullable=True)
    revocable_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    revocable_upon: Mapped[str | None] = mapped_column(String(40), nullable=True)
    signature: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    effective_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    revoked_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    revocation_method: Mapped[str | None] = mapped_column(String(100), nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column()
    created_by: Mapped[str] = mapped_column(String(200))
    # When consent.expired was published (once, by the expiry timer; ADR 0070).
    expiry_announced_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)


class DisclosureLog(Base):
    """Every disclosure a consent check allowed: who got what, under which consent, with which notice."""

    __tablename__ = "disclosure_log"

    id: Mapped[str] = mapped_column(Id, primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64), index=True)
    participant_id: Mapped[str] = mapped_column(String(64), index=True)
    consent_id: Mapped[str] = mapped_column(String(64))
    recipient_org_id: Mapped[str] = mapped_column(String(200))
    categories: Mapped[list[str]] = mapped_column(JSON)
    purpose: Mapped[str] = mapped_column(String(40))
    disclosed_at: Mapped[dt.datetime] = mapped_column()
    disclosed_by: Mapped[str] = mapped_column(String(200))
    notice: Mapped[str] = mapped_column(Text)


class SupervisionAlert(Base):
    """A timer hit already published: the unique key makes a second sweep (or replica) a no-op."""

    __tablename__ = "supervision_alert"

    dedup_key: Mapped[str] = mapped_column(String(300), primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(40))
    case_id: Mapped[str] = mapped_column(String(64), index=True)
    event_id: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column()


class ParticipantLink(Base):
    """Every link of a participant record to a person and its undoing (ADR 0071): who, when, why, from what."""

    __tablename__ = "participant_link"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    agency_id: Mapped[str] = mapped_column(String(64), index=True)
    participant_id: Mapped[str] = mapped_column(String(64), index=True)
    person_id: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(32))  # duplicate_detection | staff
    reason: Mapped[str] = mapped_column(Text, default="")
    linked_by: Mapped[str] = mapped_column(String(200))
    linked_at: Mapped[dt.datetime] = mapped_column()
    unlinked_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    unlinked_at: Mapped[dt.datetime | None] = mapped_column(nullable=True)
    unlink_reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class DisclosureRecord(Base):
    """The accounting of disclosures (ADR 0071): what was disclosed to whom, or withheld, as the disclosing
    service reported it (`disclosure.recorded` from resources and notifications, a refused consent check here)."""

    __tablename__ = "disclosure_record"
    __table_args__ = (
        Index("ix_disclosure_record_participant", "agency_id", "participant_id"),
        Index("ix_disclosure_record_referral", "agency_id", "service_referral_id"),
    )

    id: Mapped[str] = mapped_column(String(100), primary_key=True)  # the event's id (or a uuid)
    agency_id: Mapped[str] = mapped_column(String(64))
    participant_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    case_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    service_referral_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    recipient_org_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    recipient_name: Mapped[str | None] = mapped_column(String(300), nullable=True)
    channel: Mapped[str] = mapped_column(String(32))
    categories: Mapped[list[str]] = mapped_column(JSON)
    purpose: Mapped[str | None] = mapped_column(String(40), nullable=True)
    consent_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(300), nullable=True)
    source: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[dt.datetime] = mapped_column()
    recorded_at: Mapped[dt.datetime] = mapped_column()
