"""Demo data for intake: the stl-cao agency's programs from its bundled ruleset pack."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.intake.domain.ruleset import load_bundled_ruleset
from services.intake.models import Program

DEMO_AGENCY = "stl-cao"


def load_demo(session: Session) -> str:
    ruleset = load_bundled_ruleset(DEMO_AGENCY)
    existing = {p.slug: p for p in session.scalars(select(Program).where(Program.agency_id == DEMO_AGENCY))}
    for spec in ruleset.programs:
        program = existing.get(spec.id) or Program(agency_id=DEMO_AGENCY, slug=spec.id)
        program.name, program.description = spec.name, spec.description
        program.min_months, program.max_months = spec.min_months, spec.max_months
        program.ruleset_version = ruleset.version
        session.add(program)
    return f"{len(ruleset.programs)} programs of {DEMO_AGENCY} (ruleset {ruleset.version})"
