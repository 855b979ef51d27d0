"""Casework's HTTP bodies (pydantic)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StaffOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    email: str
    role: str
    programs: list[str]
    caseload_cap: int
    active: bool
