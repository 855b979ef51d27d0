"""Demo data for resources: the seed's St. Louis directory (HSDS 3.0 JSON shipped in the repo)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from services.resources.directory import load_seed_directory
from services.resources.models import Organization


def load_demo(session: Session) -> str:
    result = load_seed_directory()
    for org in result.directory.organizations:
        session.merge(Organization(
            id=str(org.id), name=org.name, alternate_name=org.alternate_name,
            description=org.description or "", email=org.email, website=org.website,
        ))
    return f"{len(result.directory.organizations)} organizations of the seed directory"
