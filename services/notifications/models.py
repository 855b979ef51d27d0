"""Notifications' tables (its own database): subscriptions, deliveries and their attempts, reminders,
contact preferences and opt-outs, staff contacts, template overrides, instance heartbeats."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.notifications.domain.subscriptions import AGENCY_ORG  # noqa: F401 - re-exported
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
RECORDS = add_record_tables(Base.metadata)  # sealed deliveries and contacts, erased persons' tombstones

BigId = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements only INTEGER keys


class Subscription(Base):
    """A partner's webhook endpoint (or AMQP feed) for the event types it asked for, or the agency's own."""

    __tablename__ = "subscription"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64), index=True)
    org_id: Mapped[str] = mapped_column(String(64), index=True)
    # partner: a partner organization's endpoint; agency: the agency's own system (AGENCY_ORG as org_id).
    audience: Mapped[str] = mapped_column(String(16), default="partner", server_default="partner")
    channel: Mapped[str] = mapped_column(String(32), default="webhook")
    url: Mapped[str | None] = mapped_column(String(2000))
    event_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="enabled")
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    description: Mapped[str | None] = mapped_column(String(500))
    # Signing secrets are needed in clear to compute HMACs; they never leave through the API after creation.
    secret: Mapped[str | None] = mapped_column(String(200))
    previous_secret: Mapped[str | None] = mapped_column(String(200))
    previous_secret_expires_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    disabled_reason: Mapped[str | None] = mapped_column(String(500))
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())


class Delivery(Base):
    """One message to one recipient on one channel; its id is the `webhook-id` on every attempt."""

    __tablename__ = "delivery"
    __table_args__ = (
        UniqueConstraint("trigger_event_id", "target_key", name="uq_delivery_trigger_target"),
        Index("ix_delivery_due", "status", "next_attempt_at"),
        Index("ix_delivery_agency_created", "agency_id", "created_at"),
        Index("ix_delivery_case", "agency_id", "case_id"),
        Index("ix_delivery_subject", "agency_id", "subject_id"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(32))
    purpose: Mapped[str] = mapped_column(String(64))  # partner_event, staff_*, appointment_reminder, ping
    subscription_id: Mapped[str | None] = mapped_column(String(64), index=True)
    org_id: Mapped[str | None] = mapped_column(String(64))
    recipient: Mapped[str] = mapped_column(String(2000))
    # Why the same trigger never makes two deliveries to one target (redelivered events, two instances).
    target_key: Mapped[str] = mapped_column(String(200))
    trigger_event_id: Mapped[str] = mapped_column(String(200))
    trigger_event_type: Mapped[str] = mapped_column(String(200))
    # What the delivery is about, so sealing and erasure find it (ADR 0083): the case the trigger names (or
    # the reminder's), and the trigger event's subject (a service referral, an appointment, a delivery).
    case_id: Mapped[str | None] = mapped_column(String(100))
    subject_id: Mapped[str | None] = mapped_column(String(200))
    subject: Mapped[str | None] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text)
    html: Mapped[str | None] = mapped_column(Text)
    # pending, sending, delivered, failed, cancelled, withheld (no consent covered it when sent: ADR 0070)
    status: Mapped[str] = mapped_column(String(16))
    # What a partner delivery discloses, checked against `partner_consent` when it is sent (ADR 0070).
    consent_id: Mapped[str | None] = mapped_column(String(100))
    disclosure_categories: Mapped[list[str] | None] = mapped_column(JSON)
    disclosure_purpose: Mapped[str | None] = mapped_column(String(40))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    round_attempts: Mapped[int] = mapped_column(Integer, default=0)  # reset by a replay
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    lease_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    # The instance whose lease it is (`instance_heartbeat.id`): when that instance stops beating, a peer
    # takes the delivery over at once instead of waiting out the lease.
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    version: Mapped[int] = mapped_column(Integer, default=1)


class InstanceHeartbeat(Base):
    """A running notifications instance and its last beat (database time), so peers can tell it died."""

    __tablename__ = "instance_heartbeat"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    beat_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class DeliveryAttempt(Base):
    """The log of every try: when, how it ended, the status code, latency and error."""

    __tablename__ = "delivery_attempt"
    __table_args__ = (Index("ix_delivery_attempt_delivery", "delivery_id", "attempt_number"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(String(64), ForeignKey("delivery.id", ondelete="CASCADE"))
    attempt_number: Mapped[int] = mapped_column(Integer)
    attempted_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    outcome: Mapped[str] = mapped_column(String(16))  # delivered, retry, failed, gone, lost
    status_code: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(String(2000))


class Reminder(Base):
    """A planned appointment reminder; (agency, appointment, offset) is unique so each is queued once."""

    __tablename__ = "reminder"
    __table_args__ = (
        # One reminder per offset for each time the appointment was at: a reschedule plans new rows, a
        # redelivered event or a second instance meets the existing ones.
        UniqueConstraint("agency_id", "appointment_id", "offset_minutes", "appointment_at", name="uq_reminder_slot"),
        Index("ix_reminder_due", "status", "send_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    appointment_id: Mapped[str] = mapped_column(String(100))
    case_id: Mapped[str] = mapped_column(String(100))
    offset_minutes: Mapped[int] = mapped_column(Integer)
    send_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    appointment_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    location: Mapped[str | None] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(16))  # scheduled, queued, skipped, cancelled
    skip_reason: Mapped[str | None] = mapped_column(String(200))
    delivery_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class AppointmentState(Base):
    """The latest version of an appointment notifications applied (casework's `version`), so an older event
    arriving late (they travel on separate queues) neither plans reminders again nor revives a cancelled one."""

    __tablename__ = "appointment_state"
    __table_args__ = (UniqueConstraint("agency_id", "appointment_id", name="uq_appointment_state"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    appointment_id: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # scheduled, cancelled
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class PendingStaffNotice(Base):
    """A staff notice for someone notifications has no contact for yet: sent once the contact arrives
    (staff.registered or PUT /v1/staff-contacts), unless it waited longer than `pending_staff_notice_days`."""

    __tablename__ = "pending_staff_notice"
    __table_args__ = (
        UniqueConstraint("trigger_event_id", "staff_id", name="uq_pending_staff_notice"),
        Index("ix_pending_staff_notice_staff", "agency_id", "staff_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    staff_id: Mapped[str] = mapped_column(String(200))
    topic: Mapped[str] = mapped_column(String(64))
    trigger_event_id: Mapped[str] = mapped_column(String(200))
    trigger_event_type: Mapped[str] = mapped_column(String(200))
    context: Mapped[dict] = mapped_column(JSON)  # the template's values, JSON-tagged
    status: Mapped[str] = mapped_column(String(16))  # pending, sent, expired
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    settled_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())


class ContactPreference(Base):
    """How to reach a participant (per case): channel, language, contact details, do-not-contact."""

    __tablename__ = "contact_preference"
    __table_args__ = (UniqueConstraint("agency_id", "case_id", name="uq_contact_preference_case"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[str] = mapped_column(String(100))
    participant_id: Mapped[str | None] = mapped_column(String(100))  # from the appointment events (erasure)
    first_name: Mapped[str | None] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(30))
    email: Mapped[str | None] = mapped_column(String(254))
    language: Mapped[str | None] = mapped_column(String(20))
    channel: Mapped[str | None] = mapped_column(String(16))  # sms, email, none; None = choose from contacts
    do_not_contact: Mapped[bool] = mapped_column(Boolean, default=False)
    # Staff chose the language (PUT): an event's language never overwrites it.
    language_set_by_staff: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class SmsOptOut(Base):
    """STOP / START from a phone number (E.164); applies to every agency sending from our number."""

    __tablename__ = "sms_opt_out"

    phone: Mapped[str] = mapped_column(String(30), primary_key=True)
    opted_out: Mapped[bool] = mapped_column(Boolean)
    changed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    keyword: Mapped[str] = mapped_column(String(20))


class StaffContact(Base):
    """Where a staff member (token `sub`) gets email, and which agency-wide notices they want."""

    __tablename__ = "staff_contact"
    __table_args__ = (UniqueConstraint("agency_id", "staff_id", name="uq_staff_contact"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    staff_id: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254))
    name: Mapped[str | None] = mapped_column(String(200))
    language: Mapped[str | None] = mapped_column(String(20))
    topics: Mapped[list[str]] = mapped_column(JSON, default=list)  # agency-wide notices, e.g. escalation
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class CaseAssignment(Base):
    """The case manager of each case, copied from `case.assigned` (to address overdue check-ins)."""

    __tablename__ = "case_assignment"
    __table_args__ = (UniqueConstraint("agency_id", "case_id", name="uq_case_assignment"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[str] = mapped_column(String(100))
    case_manager: Mapped[str] = mapped_column(String(200))
    assigned_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class ServiceReferralCase(Base):
    """The case a service referral serves, learnt from staff-side events (resources' `disclosure.recorded`,
    `service_referral.status_changed` / `.escalated`): a failed partner delivery reaches the case manager
    although the partner's body never names the case (ADR 0043)."""

    __tablename__ = "service_referral_case"
    __table_args__ = (UniqueConstraint("agency_id", "service_referral_id", name="uq_service_referral_case"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    service_referral_id: Mapped[str] = mapped_column(String(100))
    case_id: Mapped[str] = mapped_column(String(100))
    learned_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class TemplateOverride(Base):
    """An agency's own text for one template part, e.g. key `es/appointment_reminder.sms`."""

    __tablename__ = "template_override"
    __table_args__ = (UniqueConstraint("agency_id", "key", name="uq_template_override"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(120))
    source: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    updated_by: Mapped[str] = mapped_column(String(200))


class PartnerConsent(Base):
    """Notifications' copy of casework's consents, from consent.recorded / revoked / expired (ADR 0070): what
    the send-time check of every partner delivery asks."""

    __tablename__ = "partner_consent"
    __table_args__ = (Index("ix_partner_consent_person", "agency_id", "person_id"),)

    consent_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    participant_id: Mapped[str] = mapped_column(String(100))
    person_id: Mapped[str] = mapped_column(String(100))
    recipient_org_id: Mapped[str] = mapped_column(String(200))
    categories: Mapped[list[str]] = mapped_column(JSON)
    purposes: Mapped[list[str]] = mapped_column(JSON)
    valid: Mapped[bool] = mapped_column(Boolean)
    effective_on: Mapped[dt.date | None] = mapped_column(Date)
    expires_on: Mapped[dt.date | None] = mapped_column(Date)
    revoked_on: Mapped[dt.date | None] = mapped_column(Date)
    expired: Mapped[bool] = mapped_column(Boolean, default=False)
    # The newest event applied (an older one arriving late changes nothing; a revocation is final).
    changed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
