"""Resources' tables (its own database): the HSDS 3.0 directory and, later, service referrals."""

from __future__ import annotations

from sqlalchemy import String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.audit import audit_table
from shared.idempotency import idempotency_table
from shared.messaging.tables import add_messaging_tables


class Base(DeclarativeBase):
    pass


AuditEvent = audit_table(Base.metadata)
Messaging = add_messaging_tables(Base.metadata)
IdempotencyKey = idempotency_table(Base.metadata)


class Organization(Base):
    """HSDS `organization`: a community partner. The directory is shared by every agency."""

    __tablename__ = "organization"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(300), index=True)
    alternate_name: Mapped[str | None] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    email: Mapped[str | None] = mapped_column(String(254))
    website: Mapped[str | None] = mapped_column(String(500))
