"""HTTP bodies of one person across cases and of the accounting of disclosures (ADR 0071)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from services.casework.schemas import Id, Strict, Text
from shared.http.pagination import PageQuery
from shared.types import IsoDateTime


class LinkIn(Strict):
    participant_id: Id = Field(description="another participant record of the same person")
    reason: Text = Field(description="why staff judge them the same person (kept with the link)")


class UnlinkIn(Strict):
    reason: Text = Field(description="why the link was wrong (kept with the link)")


class LinkOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    participant_id: str
    person_id: str
    source: Literal["duplicate_detection", "staff"]
    reason: str
    linked_by: str
    linked_at: IsoDateTime
    unlinked_by: str | None = None
    unlinked_at: IsoDateTime | None = None
    unlink_reason: str | None = None


class PersonOut(BaseModel):
    """A participant record and the person it is one of: its linked records and every link made or undone."""

    participant_id: str
    person_id: str = Field(description="the id of the person's first participant record")
    participant_ids: list[str] = Field(description="every participant record of this person, this one first")
    links: list[LinkOut] = Field(description="links of these records, oldest first (undone ones included)")


class DisclosureQuery(PageQuery):
    model_config = ConfigDict(extra="forbid")

    format: Literal["json", "csv"] = Field(default="json", description="csv: every entry, oldest first "
                                           "(also with Accept: text/csv)")


class DisclosureOut(BaseModel):
    """One disclosure of the person's information outside the agency, or one withheld."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    occurred_at: IsoDateTime
    outcome: Literal["disclosed", "withheld"]
    channel: str = Field(description="service_referral, partner_read, webhook, amqp, email or sms")
    recipient_org_id: str | None = None
    recipient_name: str | None = None
    categories: list[str]
    purpose: str | None = None
    consent_id: str | None = Field(default=None, description="the consent it was disclosed under")
    reason: str | None = Field(default=None, description="why it was withheld")
    participant_id: str | None = None
    case_id: str | None = None
    service_referral_id: str | None = None
    source: str = Field(description="the service that reported it: resources, notifications or casework")
