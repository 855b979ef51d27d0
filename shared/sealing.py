"""Sealing and erasure rules shared by the four services (issue 16 items 2-4; ADR 0083).

Plain Python, no I/O beyond reading a pack file: the agency's sealing pack (versioned YAML in
shared/sealing_packs/), whether an outcome seals and when, the RSMo 610.120 exception codes a records
officer must name in `X-Legal-Basis`, and the keyed tombstone that lets a handler refuse to recreate an
erased person without keeping readable personal data.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from datetime import datetime, timedelta
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

PACK_DIR = Path(__file__).parent / "sealing_packs"
LEGAL_BASIS_HEADER = "X-Legal-Basis"
RECORDS_OFFICER = "records_officer"

# RSMo 610.120.1: the only parties to whom closed records stay available. Codes are what the header names.
LEGAL_BASES: dict[str, str] = {
    "criminal-justice-agency": "criminal justice agencies for the administration of criminal justice",
    "employment-screening-statute": "agencies required by statute to screen for employment or licensing",
    "court-order": "an order of a court of competent jurisdiction",
    "subject-of-record": "the person who is the subject of the record (identity verified)",
    "nolle-prossed-statute": "purposes allowed for nolle prossed or dismissed records under 610.120.2",
}
DISPOSITIONS = frozenset({"dismissal", "one_day_probation", "returned_to_prosecution", "withdrawn"})


class SealingError(ValueError):
    """A pack or a request that cannot be used; the message says which part and why."""


class SealingRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    disposition: str
    seal_after_days: int = Field(ge=0, le=3650)

    @model_validator(mode="after")
    def _known_disposition(self) -> SealingRule:
        if self.disposition not in DISPOSITIONS:
            raise ValueError(f"disposition {self.disposition!r} is not one of {sorted(DISPOSITIONS)}")
        return self


class SealingPack(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    agency: str = Field(min_length=1)
    version: str = Field(min_length=1)
    rules: tuple[SealingRule, ...]

    def seal_at(self, disposition: str, decided_at: datetime) -> datetime | None:
        """When the records of a case with this disposition seal, or None if the pack does not seal it."""
        for rule in self.rules:
            if rule.disposition == disposition:
                return decided_at + timedelta(days=rule.seal_after_days)
        return None


def load_pack(agency: str, directory: Path = PACK_DIR) -> SealingPack:
    path = directory / f"{agency}.yaml"
    if not path.is_file():
        raise SealingError(f"no sealing pack for agency {agency!r} in {directory}")
    try:
        return SealingPack.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (yaml.YAMLError, ValueError) as exc:
        raise SealingError(f"sealing pack {path.name}: {exc}") from exc


class LegalBasisProblem(Exception):
    """Why a request may not open a sealed record: `status` is 400 (bad header) or 403 (wrong role)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def legal_basis(roles: frozenset[str], header: str | None) -> str:
    """The 610.120 code under which this caller opens a sealed record, or a LegalBasisProblem."""
    if RECORDS_OFFICER not in roles:
        raise LegalBasisProblem(403, "only a records_officer may open a sealed record")
    if header is None or not header.strip():
        raise LegalBasisProblem(400, f"opening a sealed record needs a {LEGAL_BASIS_HEADER} header naming one of "
                                     f"{sorted(LEGAL_BASES)}")
    code = header.strip().lower()
    if code not in LEGAL_BASES:
        raise LegalBasisProblem(400, f"{LEGAL_BASIS_HEADER} {header.strip()[:60]!r} is not a RSMo 610.120 exception; "
                                     f"use one of {sorted(LEGAL_BASES)}")
    return code


def _normal(value: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", value).casefold().split())


def tombstone(secret: bytes, agency: str, kind: str, identifier: str) -> str:
    """A keyed HMAC of one identifier of an erased person (kind: referral, case, participant, person).

    Stored instead of the rows; a handler computes the same value from an incoming event and refuses to
    create anything that matches. Without the key the value reveals nothing about the person.
    """
    if not secret:
        raise SealingError("the tombstone key is empty")
    message = "\x1f".join((_normal(agency), _normal(kind), _normal(identifier))).encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def person_tombstone(secret: bytes, agency: str, last_name: str, first_name: str, birth_date: str) -> str:
    """The tombstone of a person by name and birth date, so a new referral id cannot slip past an erasure."""
    return tombstone(secret, agency, "person", "|".join(_normal(part) for part in (last_name, first_name, birth_date)))
