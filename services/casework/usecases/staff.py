"""Staff of an agency, how events name them, and the agency's casework settings."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.casework.models import AgencyConfig, Staff
from services.casework.schemas import StaffIn
from services.casework.usecases.common import Missing


def list_staff(session: Session, agency: str) -> list[Staff]:
    return list(session.scalars(select(Staff).where(Staff.agency_id == agency).order_by(Staff.name)).all())


def add_staff(session: Session, agency: str, body: StaffIn) -> Staff:
    """A new active staff member (the unique email key refuses a second one at commit)."""
    email = str(body.email).lower()
    member = Staff(id=str(uuid.uuid4()), agency_id=agency, name=body.name, email=email,
                   role=body.role, programs=body.programs, caseload_cap=body.caseload_cap, active=True,
                   subject=body.subject or email, phone=body.phone, version=1)
    session.add(member)
    return member


def get_staff(session: Session, agency: str, staff_id: str, *, lock: bool = False) -> Staff:
    statement = select(Staff).where(Staff.agency_id == agency, Staff.id == staff_id)
    member = session.scalar(statement.with_for_update() if lock else statement)
    if member is None:
        raise Missing("no such staff member")
    return member


def staff_subject(session: Session, agency: str, staff_id: str | None) -> str | None:
    """What events call a case manager: the token `sub` when known, else the staff id."""
    if staff_id is None:
        return None
    member = session.scalar(select(Staff).where(Staff.agency_id == agency, Staff.id == staff_id))
    if member is None:
        return staff_id
    return member.subject or member.id


def staff_for_subject(session: Session, agency: str, subject: str) -> Staff | None:
    return session.scalar(select(Staff).where(Staff.agency_id == agency, Staff.subject == subject))


def agency_config(session: Session, agency: str, *, lock: bool = False) -> AgencyConfig | None:
    return session.get(AgencyConfig, agency, with_for_update=True) if lock else session.get(AgencyConfig, agency)


def set_assignment_strategy(
    session: Session, agency: str, config: AgencyConfig | None, strategy: str, *, actor: str, now: datetime,
) -> None:
    """Store the agency's choice (the caller checked the strategy is installed and the If-Match)."""
    if config is None:
        session.add(AgencyConfig(agency_id=agency, assignment_strategy=strategy, version=1, updated_at=now,
                                 updated_by=actor))
    else:
        config.assignment_strategy, config.updated_at, config.updated_by = strategy, now, actor
        config.version += 1
