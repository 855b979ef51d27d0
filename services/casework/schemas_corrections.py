"""Casework's HTTP bodies for corrections, participant search, the reassignment queue and the case timeline.

Kept apart from schemas.py (which holds the other endpoints' bodies) so the module stays one subject.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.casework.domain.lifecycle import CaseState
from services.casework.schemas import Slug, Strict
from shared.http.pagination import PageQuery
from shared.types import NONBLANK_TEXT_PATTERN, TEXT_PATTERN, Email, IsoDate

Phone = Annotated[str, Field(min_length=3, max_length=30, pattern=r"^\+?[0-9][0-9 ().-]{0,27}[0-9)]$")]
Language = Annotated[str, Field(min_length=2, max_length=20, pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$",
                                description="BCP 47 tag, e.g. en, es, es-MX")]
Line = Annotated[str, Field(min_length=1, max_length=200, pattern=NONBLANK_TEXT_PATTERN)]
Short = Annotated[str, Field(min_length=1, max_length=100, pattern=NONBLANK_TEXT_PATTERN)]
Postal = Annotated[str, Field(min_length=1, max_length=20, pattern=r"^[A-Za-z0-9][A-Za-z0-9 -]{0,19}$")]


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def _absent() -> Any:
    """A field that may be left out but, when sent, is not null (the document says so: no null, no default)."""
    return Field(default=None, json_schema_extra=_no_default)


class _Patch(Strict):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, json_schema_extra={"minProperties": 1})

    @model_validator(mode="after")
    def _something(self) -> _Patch:
        if not self.model_fields_set:
            raise ValueError("name at least one field to change")
        return self


class StaffPatch(_Patch):
    """A correction of a staff member: only the fields named change (null clears the phone)."""

    name: Annotated[str, Field(min_length=1, max_length=200, pattern=NONBLANK_TEXT_PATTERN)] = _absent()
    email: Email = _absent()
    phone: Phone | None = None
    active: Annotated[bool, Field(description="false: no new cases; open cases wait for reassignment")] = _absent()
    caseload_cap: Annotated[int, Field(ge=1, le=500)] = _absent()
    programs: Annotated[list[Slug], Field(max_length=50)] = _absent()

class ParticipantPatch(_Patch):
    """A correction of a participant's contact details, language or address (null clears a field)."""

    phone: Phone | None = None
    email: Email | None = None
    preferred_language: Language = _absent()
    address_line1: Line | None = None
    address_line2: Line | None = None
    city: Short | None = None
    region: Short | None = None
    postal_code: Postal | None = None


class FieldChangeOut(BaseModel):
    field: str
    old: Any = None
    new: Any = None


class ChangeOut(BaseModel):
    version: int
    changed_at: dt.datetime
    changed_by: str
    changes: list[FieldChangeOut]


class ParticipantSearchQuery(PageQuery):
    """No term: every participant the caller may see, a page at a time."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=100, pattern=TEXT_PATTERN,
                             description="a prefix of the first or last name; accents and case are ignored")
    born: IsoDate | None = Field(default=None, description="date of birth")
    case_status: CaseState | None = Field(default=None, description="state of the participant's case")


class ParticipantHit(BaseModel):
    id: str
    first_name: str
    last_name: str
    date_of_birth: IsoDate
    case_id: str | None
    case_state: CaseState | None
    case_manager_id: str | None


class ReassignmentItem(BaseModel):
    """An open case whose case manager was deactivated: it waits here until a supervisor reassigns it."""

    case_id: str
    case_number: str
    program_id: str
    state: CaseState
    case_manager_id: str
    case_manager_name: str
    waiting_since: dt.datetime | None


class TimelineEntry(BaseModel):
    at: dt.datetime
    kind: str = Field(description="what happened, e.g. case.opened, case.assigned, plan.version, contact.completed")
    source: str = Field(description="the record it comes from: case, assignment, plan, contact, ...")
    id: str = Field(description="the record's id within its source")
    summary: str
    detail: dict[str, Any] = Field(default_factory=dict)
