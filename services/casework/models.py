"""Casework's tables (its own database): staff and caseloads, and later cases, plans and consents."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Boolean, Integer, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.audit import audit_table
from shared.idempotency import idempotency_table
from shared.messaging.tables import add_messaging_tables


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[str]: JSON}


AuditEvent = audit_table(Base.metadata)
Messaging = add_messaging_tables(Base.metadata)
IdempotencyKey = idempotency_table(Base.metadata)


class Staff(Base):
    """A case manager or supervisor of an agency, with the programs served and a caseload cap."""

    __tablename__ = "staff"
    __table_args__ = (UniqueConstraint("agency_id", "email"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254))
    role: Mapped[str] = mapped_column(String(32), default="case_manager")
    programs: Mapped[list[str]] = mapped_column(JSON, default=list)
    caseload_cap: Mapped[int] = mapped_column(Integer, default=25)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
