"""intake's HTTP bodies for sealing and erasure (ADR 0083): the ledger, the disposition, the erasure order.

Ids, times and counts only: no name, no date of birth, nothing about the person.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.http.pagination import PageQuery
from shared.types import IsoDateTime


class LedgerServices(BaseModel):
    """When each service confirmed the request (null: not yet)."""

    intake: IsoDateTime | None = None
    casework: IsoDateTime | None = None
    resources: IsoDateTime | None = None
    notifications: IsoDateTime | None = None


class LedgerEntryOut(BaseModel):
    request_id: str
    kind: Literal["sealing", "erasure"]
    referral_id: str
    case_id: str | None
    pack_version: str | None = Field(description="the sealing pack version that sealed it (sealing only)")
    disposition: str | None
    basis: str | None = Field(description="the legal basis the records officer named (erasure only)")
    seal_due_at: IsoDateTime = Field(description="when the pack seals the records")
    requested_at: IsoDateTime | None = Field(description="when the request was sent (null: not due yet)")
    services: LedgerServices
    missing: list[str] = Field(description="services that have not confirmed")
    retries: int
    state: Literal["pending", "complete", "missing", "surfaced"]
    surfaced: bool = Field(description="every retry spent and a service still silent: a person must look")
    elapsed_seconds: float | None = Field(description="from the request to the last confirmation, once complete")


class LedgerQuery(PageQuery):
    model_config = ConfigDict(extra="forbid")

    state: Literal["pending", "complete", "missing", "surfaced"] | None = None
    referral_id: str | None = Field(default=None, max_length=36)


class DispositionOut(BaseModel):
    """A referral's final action: readable even when its records are sealed (RSMo 610.105)."""

    referral_id: str
    status: str
    disposition: str | None
    disposed_at: IsoDateTime | None
    case_id: str | None


class ErasureIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    order_reference: str | None = Field(default=None, min_length=1, max_length=200,
                                        description="the court order's reference, as the records officer has it")
