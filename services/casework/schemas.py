"""Casework's HTTP bodies (pydantic)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field


class StaffOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    email: str
    role: str
    programs: list[str]
    caseload_cap: int
    active: bool


class StaffIn(BaseModel):
    """A new case manager or supervisor."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200)
    email: EmailStr
    role: Literal["case_manager", "supervisor"] = "case_manager"
    programs: list[Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9-]+$")]] = Field(
        default_factory=list, max_length=50
    )
    caseload_cap: int = Field(default=25, ge=1, le=500)
