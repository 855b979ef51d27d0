"""Intake's tables (its own database): rulesets, programs, referrals as referred, screenings and decisions."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.audit import audit_table
from shared.bulk import JsonDocument
from shared.idempotency import idempotency_table
from shared.messaging.tables import add_messaging_tables
from shared.records import add_record_tables
from shared.timestamps import UtcDateTime


class Base(DeclarativeBase):
    pass


AuditEvent = audit_table(Base.metadata)
Messaging = add_messaging_tables(Base.metadata)
IdempotencyKey = idempotency_table(Base.metadata)
RECORDS = add_record_tables(Base.metadata)


class Program(Base):
    """A diversion program an agency offers, as its current ruleset pack defines it."""

    __tablename__ = "program"
    __table_args__ = (UniqueConstraint("agency_id", "slug"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    agency_id: Mapped[str] = mapped_column(String(64), index=True)
    slug: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    min_months: Mapped[int] = mapped_column(Integer)
    max_months: Mapped[int] = mapped_column(Integer)
    ruleset_version: Mapped[str] = mapped_column(String(100))


class RulesetRow(Base):
    """A version of an agency's ruleset pack (append-only: a new version is a new row; the newest is current)."""

    __tablename__ = "ruleset"
    __table_args__ = (UniqueConstraint("agency_id", "version", name="uq_ruleset_agency_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    agency_id: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[str] = mapped_column(String(64))
    content_hash: Mapped[str] = mapped_column(String(80))
    pack: Mapped[dict[str, Any]] = mapped_column(JSON)
    installed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    installed_by: Mapped[str] = mapped_column(String(200))


class ReferralRow(Base):
    """A criminal case referred for screening; `status` and `version` change with every decision."""

    __tablename__ = "referral"
    __table_args__ = (
        UniqueConstraint("agency_id", "import_key", name="uq_referral_agency_import_key"),
        Index("ix_referral_agency_received", "agency_id", "received_at", "id"),
        Index("ix_referral_agency_case_key", "agency_id", "case_key"),
        Index("ix_referral_agency_person_key", "agency_id", "person_key"),
        Index("ix_referral_agency_review", "agency_id", "review_since", "id"),
        Index("ix_referral_status_deferred_until", "status", "deferred_until"),
        Index("ix_referral_eligible_on", "eligible_on"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(20))
    case_number: Mapped[str] = mapped_column(String(64))
    case_key: Mapped[str] = mapped_column(String(64))
    person_key: Mapped[str] = mapped_column(String(300))
    external_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    # "ext:<external_id>" or "nat:<case key>|<date of birth>": what makes a batch re-run create nothing twice.
    import_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    offense_date: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20))
    version: Mapped[int] = mapped_column(Integer, default=1)
    recommendation: Mapped[str] = mapped_column(String(20))
    # ",young-adult,limited-history," from the current screening, for the list's program filter.
    eligible_programs: Mapped[str] = mapped_column(String(2000), default=",")
    program: Mapped[str | None] = mapped_column(String(64), nullable=True)
    deferred_until: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    disposition: Mapped[str | None] = mapped_column(String(40), nullable=True)
    disposition_reason: Mapped[str | None] = mapped_column(String(40), nullable=True)
    disposed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    case_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    received_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    # The review queue (domain/review.py): ",needs_judgement,possible_duplicate," and since when it waits
    # (NULL: not in the queue); the programs awaiting a judgement; the first day time makes a program eligible.
    review_reasons: Mapped[str] = mapped_column(String(200), default="", server_default="")
    review_since: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    pending_programs: Mapped[str] = mapped_column(String(2000), default=",", server_default=",")
    eligible_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)


class DefendantRow(Base):
    """The person as the referral names them (one row per referral: what this agency was told, when)."""

    __tablename__ = "defendant"

    referral_id: Mapped[str] = mapped_column(String(36), ForeignKey("referral.id", ondelete="CASCADE"),
                                             primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    date_of_birth: Mapped[dt.date] = mapped_column(Date)
    sex: Mapped[str | None] = mapped_column(String(60), nullable=True)
    race: Mapped[str | None] = mapped_column(String(60), nullable=True)
    ethnicity: Mapped[str | None] = mapped_column(String(60), nullable=True)
    phone: Mapped[str | None] = mapped_column(String(25), nullable=True)
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    address: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    preferred_language: Mapped[str] = mapped_column(String(10), default="en")


class ChargeRow(Base):
    __tablename__ = "charge"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    referral_id: Mapped[str] = mapped_column(String(36), ForeignKey("referral.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    statute: Mapped[str] = mapped_column(String(40))
    description: Mapped[str] = mapped_column(String(200))
    offense_class: Mapped[str] = mapped_column(String(20))
    offense_date: Mapped[dt.date] = mapped_column(Date)
    violent: Mapped[bool | None] = mapped_column(Boolean, nullable=True)


class HistoryRow(Base):
    """The criminal history as referred (lists kept as JSON: they are read and screened whole)."""

    __tablename__ = "criminal_history"

    referral_id: Mapped[str] = mapped_column(String(36), ForeignKey("referral.id", ondelete="CASCADE"),
                                             primary_key=True)
    convictions: Mapped[list[Any]] = mapped_column(JSON)
    prior_diversions: Mapped[list[Any]] = mapped_column(JSON)
    pending_cases: Mapped[int] = mapped_column(Integer, default=0)


class ScreeningRow(Base):
    """One screening of a referral (append-only: a rescreen adds a row and keeps the earlier result)."""

    __tablename__ = "screening"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    referral_id: Mapped[str] = mapped_column(String(36), ForeignKey("referral.id", ondelete="CASCADE"), index=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    ruleset_version: Mapped[str] = mapped_column(String(64))
    ruleset_hash: Mapped[str] = mapped_column(String(80))
    screened_on: Mapped[dt.date] = mapped_column(Date)
    recommendation: Mapped[str] = mapped_column(String(20))
    result: Mapped[dict[str, Any]] = mapped_column(JsonDocument())  # takes RawJson on the bulk path
    trigger: Mapped[str] = mapped_column(String(20))  # submitted | rescreen
    screened_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    screened_by: Mapped[str] = mapped_column(String(200))


class DecisionRow(Base):
    """Every decision on a referral, in order (the referral row holds only the current status)."""

    __tablename__ = "decision"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    referral_id: Mapped[str] = mapped_column(String(36), ForeignKey("referral.id", ondelete="CASCADE"), index=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(20))
    program: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reason_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    override: Mapped[bool] = mapped_column(Boolean, default=False)
    deferred_until: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    screening_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    ruleset_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    decided_by: Mapped[str] = mapped_column(String(200))
    decided_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class JudgementRow(Base):
    """A screener's judgement (append-only): on a program awaiting one, or on a possible duplicate."""

    __tablename__ = "judgement"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    referral_id: Mapped[str] = mapped_column(String(36), ForeignKey("referral.id", ondelete="CASCADE"), index=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(20))  # program | duplicate
    program: Mapped[str | None] = mapped_column(String(64), nullable=True)
    outcome: Mapped[str] = mapped_column(String(20))  # eligible | ineligible | not_duplicate | duplicate
    reason: Mapped[str] = mapped_column(Text)
    screening_id: Mapped[int | None] = mapped_column(Integer, nullable=True)  # the screening it produced
    judged_by: Mapped[str] = mapped_column(String(200))
    judged_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class SealingLedgerRow(Base):
    """A sealing or erasure request and which services confirmed it (ADR 0083; rules in domain/sealing_ledger.py).

    `requested_at` NULL: a sealing whose day has not come; `confirmed` is JSON text {service: iso time}.
    """

    __tablename__ = "sealing_ledger"
    __table_args__ = (Index("ix_sealing_ledger_agency_referral", "agency_id", "referral_id"),)

    request_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(20))  # sealing | erasure
    referral_id: Mapped[str] = mapped_column(String(36))
    case_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    pack_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    disposition: Mapped[str | None] = mapped_column(String(40), nullable=True)
    basis: Mapped[str | None] = mapped_column(String(60), nullable=True)
    seal_due_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    requested_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    confirmed: Mapped[str] = mapped_column(Text, default="{}", server_default="{}")
    retries: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_sent_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
