"""Notifications' tables (its own database): subscriptions and, later, deliveries and reminders."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, DateTime, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.audit import audit_table
from shared.idempotency import idempotency_table
from shared.messaging.tables import add_messaging_tables


class Base(DeclarativeBase):
    pass


AuditEvent = audit_table(Base.metadata)
Messaging = add_messaging_tables(Base.metadata)
IdempotencyKey = idempotency_table(Base.metadata)


class Subscription(Base):
    """A partner's webhook endpoint (or AMQP feed) for the event types it asked for."""

    __tablename__ = "subscription"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64), index=True)
    org_id: Mapped[str] = mapped_column(String(64), index=True)
    channel: Mapped[str] = mapped_column(String(32), default="webhook")
    url: Mapped[str | None] = mapped_column(String(2000))
    event_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="enabled")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
