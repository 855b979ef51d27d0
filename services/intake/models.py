"""Intake's tables (its own database): agency programs and, later, referrals and screenings."""

from __future__ import annotations

from sqlalchemy import Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.audit import audit_table
from shared.idempotency import idempotency_table
from shared.messaging.tables import add_messaging_tables


class Base(DeclarativeBase):
    pass


AuditEvent = audit_table(Base.metadata)
Messaging = add_messaging_tables(Base.metadata)
IdempotencyKey = idempotency_table(Base.metadata)


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
