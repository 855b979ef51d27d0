"""Intake's HTTP bodies (pydantic): what agencies send and what they get back."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ProgramOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    slug: str
    name: str
    description: str
    min_months: int
    max_months: int
    ruleset_version: str
