"""Builders for intake domain tests: realistic referral payloads (imported by the tests and conftest)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from services.intake.domain.referral import Referral

# The `make_referral` fixture's type (defined in conftest.py).
MakeReferral = Callable[..., Referral]


def referral_data(
    *,
    dob: str = "2003-04-05",
    charges: list[dict[str, Any]] | None = None,
    convictions: list[dict[str, Any]] | None = None,
    diversions: list[dict[str, Any]] | None = None,
    **defendant: Any,
) -> dict[str, Any]:
    return {
        "source": "police",
        "case_number": "2611-CR00123",
        "defendant": {
            "first_name": "Dana",
            "last_name": "Brooks",
            "date_of_birth": dob,
            "sex": "female",
            "race": "Black",
            "ethnicity": "not_hispanic",
            "phone": "(314) 555-0134",
            "email": "dana@example.org",
            "address": {
                "line1": "1520 Market St",
                "line2": None,
                "city": "St. Louis",
                "state": "MO",
                "postal_code": "63103",
            },
            "preferred_language": "en",
            **defendant,
        },
        "charges": charges
        if charges is not None
        else [
            {
                "statute": "570.030",
                "description": "Stealing",
                "offense_class": "felony_d",
                "offense_date": "2026-10-01",
                "violent": None,
            }
        ],
        "history": {
            "convictions": convictions or [],
            "prior_diversions": diversions or [],
            "pending_cases": 0,
        },
    }


def charge(
    statute: str = "570.030",
    offense_class: str = "felony_d",
    offense_date: str = "2026-10-01",
    violent: bool | None = None,
    description: str = "Stealing",
) -> dict[str, Any]:
    return {
        "statute": statute,
        "description": description,
        "offense_class": offense_class,
        "offense_date": offense_date,
        "violent": violent,
    }
