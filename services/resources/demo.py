"""Demo data for resources: the seed's whole St. Louis directory (every HSDS table), stored idempotently."""

from __future__ import annotations

from sqlalchemy.orm import Session

from services.resources.directory import load_seed_directory
from services.resources.store import save_directory


def load_demo(session: Session) -> str:
    result = load_seed_directory()
    stored = save_directory(session, result.directory)
    counts = result.directory.counts()
    return (f"seed directory: {counts['organizations']} organizations, {counts['services']} services, "
            f"{counts['locations']} locations ({stored.created_total} rows new)")
