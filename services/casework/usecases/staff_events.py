"""What casework tells the suite about its staff directory: `staff.registered` here (`staff.updated` comes
from usecases.corrections), with the contact fields notifications addresses staff notices by (so nobody
registers a person twice)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from services.casework.models import Staff
from services.casework.usecases.common import emit_data
from shared.messaging import Emit
from shared.messaging.catalog import StaffRegistered


def directory_fields(member: Staff) -> dict[str, Any]:
    return {"staff_id": member.id, "agency_id": member.agency_id, "role": member.role, "active": member.active,
            "display_name": member.name, "email": member.email, "phone": getattr(member, "phone", None),
            "subject": member.subject or member.id}


def staff_registered(session: Session, emit: Emit, member: Staff) -> None:
    session.flush()
    emit_data(emit, StaffRegistered(**directory_fields(member)),
              subject=member.id, agency=member.agency_id)
