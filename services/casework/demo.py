"""Demo data for casework: the stl-cao Diversion Unit's (fictional) case managers and a supervisor."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.casework.models import Staff
from services.casework.usecases.staff_events import staff_registered
from shared.messaging.outbox import record

DEMO_AGENCY = "stl-cao"
ALL_PROGRAMS = ["young-adult", "limited-history", "aged-history", "first-diversion", "second-chance"]
DEMO_STAFF = [
    ("Demo Case Manager One", "cm1@demo.diversion.example", "case_manager", 25),
    ("Demo Case Manager Two", "cm2@demo.diversion.example", "case_manager", 25),
    ("Demo Case Manager Three", "cm3@demo.diversion.example", "case_manager", 20),
    ("Demo Supervisor", "supervisor@demo.diversion.example", "supervisor", 5),
]
NAMESPACE = uuid.UUID("6f1c2b0e-6a43-4d38-9d43-0f2f5a0c7e11")


def load_demo(session: Session) -> str:
    existing = set(session.scalars(select(Staff.email).where(Staff.agency_id == DEMO_AGENCY)))
    added = 0
    for name, email, role, cap in DEMO_STAFF:
        if email in existing:
            continue
        member = Staff(id=str(uuid.uuid5(NAMESPACE, email)), agency_id=DEMO_AGENCY, name=name, email=email,
                       role=role, programs=ALL_PROGRAMS, caseload_cap=cap, active=True, subject=email)
        session.add(member)
        # Announced like staff added through the API, so notifications knows where to email them.
        staff_registered(session, lambda event: record(session, event, service="casework"), member)
        added += 1
    return f"{added} demo staff added ({len(DEMO_STAFF)} in the demo agency)"
