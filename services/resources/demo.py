"""Demo data for resources: the seed's whole St. Louis directory (every HSDS table), stored idempotently."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from services.resources.directory import load_seed_directory
from services.resources.models import DIRECTORY_STEWARD
from services.resources.store import save_directory

DEMO_AGENCY = "stl-cao"


def load_demo(session: Session) -> str:
    result = load_seed_directory()
    stored = save_directory(session, result.directory)
    # The demo agency speaks for the seed's organizations (their partner logins are its own), unless a
    # directory_admin already named another steward (ADR 0031).
    stewarded = set(session.scalars(select(DIRECTORY_STEWARD.c.organization_id)))
    now = dt.datetime.now(dt.UTC)
    for organization in result.directory.organizations:
        if str(organization.id) not in stewarded:
            session.execute(insert(DIRECTORY_STEWARD).values(
                organization_id=str(organization.id), agency_id=DEMO_AGENCY, assigned_by="demo", assigned_at=now))
    counts = result.directory.counts()
    return (f"seed directory: {counts['organizations']} organizations, {counts['services']} services, "
            f"{counts['locations']} locations ({stored.created_total} rows new)")
