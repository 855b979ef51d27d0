"""Resources' HTTP bodies (pydantic), named after HSDS 3.0."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from shared.http.pagination import PageQuery


class OrganizationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    alternate_name: str | None = None
    description: str
    email: str | None = None
    website: str | None = None


class OrganizationQuery(PageQuery):
    model_config = ConfigDict(extra="forbid")

    search: str | None = Field(default=None, max_length=200, description="Part of the name")
