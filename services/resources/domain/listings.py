"""What editing a listing changes besides the fields sent: its assurance (HSDS `assured_date`) and version."""

from __future__ import annotations

import datetime as dt
from typing import Any


def assurance(assured: bool | None, assurer_email: str | None, current_assurer: str | None,
              today: dt.date) -> dict[str, Any]:
    """Confirming a listing stamps today's date and keeps the last assurer unless another is named;
    naming an assurer without confirming only records who it is."""
    if assured:
        return {"assured_date": today, "assurer_email": assurer_email or current_assurer}
    if assurer_email is not None:
        return {"assurer_email": assurer_email}
    return {}


def days_since_assured(assured_date: dt.date | None, today: dt.date) -> int | None:
    """Days since the listing was last confirmed; None when it never was."""
    return (today - assured_date).days if assured_date else None
