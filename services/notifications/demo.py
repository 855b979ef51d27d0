"""Demo data for notifications: none is needed; partners subscribe through the API."""

from __future__ import annotations

from sqlalchemy.orm import Session


def load_demo(session: Session) -> str:
    return "no demo data (partners register their own subscriptions)"
