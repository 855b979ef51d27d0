"""Retention schedules as agency data: how many days each record class is kept before it is purged (ADR 0082).

`shared/retention_packs/default.yaml` holds the deployment's schedule; `<agency>.yaml` beside it (or in the
folder `DIVERSION_RETENTION_PACKS` names) overrides classes for one agency. Packs are validated with pydantic
when loaded: an unknown class, a missing version or an audit retention under a year (CJIS) is refused with a
message naming the file and the field.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

PACKS_DIR = Path(__file__).with_name("retention_packs")
DEFAULT = "default"
AUDIT_CLASS = "audit.entry"
# CJIS Security Policy 5.4.7: audit records are kept at least one year.
AUDIT_MINIMUM_DAYS = 365

# Every class a pack may name, and what it means; the services' purge classes (services/*/usecases/retention.py)
# use these names. `case.closed` and `case.sealed` are casework's purge hook (a case with everything about it),
# `service_referral.closed` resources' and `reminder.finished` notifications' (more than one table each).
RECORD_CLASSES: dict[str, str] = {
    "referral.ineligible": "intake referrals screened ineligible for every program, from their last change",
    "referral.declined": "intake referrals the prosecutor declined, from the decision",
    "case.closed": "casework cases with an outcome, from the closing",
    "case.sealed": "casework cases sealed under the agency's policy, from the sealing",
    "delivery.log": "notifications' finished deliveries (body, recipient), from their last change",
    "delivery.attempt": "notifications' delivery attempts, from the attempt",
    "consent.ended": "notifications' copies of revoked or expired consents, from their last change",
    "reminder.finished": "notifications' queued, skipped or cancelled reminders of past appointments (and the "
                         "appointments' version records), from their last change",
    "service_referral.closed": "resources' service referrals in a final status with their history, from their "
                               "last change",
    "idempotency.key": "stored first answers of creating requests, from the request",
    "outbox.sent": "published outbox rows (event bodies), from the publish",
    "inbox.handled": "inbox rows, from the handling",
    AUDIT_CLASS: "audit entries, from the entry (at least 365 days)",
}


class RetentionError(ValueError):
    """A retention pack is missing or invalid; the message names the file and what is wrong."""


class ClassRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    days: int = Field(ge=1, le=36500, description="days after the anchor date the record is kept")
    description: str = Field(default="", max_length=300)


class RetentionPack(BaseModel):
    """One agency's schedule (or the deployment's `default`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    agency: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")
    version: str = Field(min_length=1, max_length=40)
    classes: dict[str, ClassRule]

    @field_validator("classes")
    @classmethod
    def _known_classes(cls, value: dict[str, ClassRule]) -> dict[str, ClassRule]:
        unknown = sorted(set(value) - set(RECORD_CLASSES))
        if unknown:
            raise ValueError(f"unknown record class(es) {', '.join(unknown)}; known: {', '.join(RECORD_CLASSES)}")
        return value

    @model_validator(mode="after")
    def _audit_kept_a_year(self) -> RetentionPack:
        audit = self.classes.get(AUDIT_CLASS)
        if audit is not None and audit.days < AUDIT_MINIMUM_DAYS:
            raise ValueError(f"{AUDIT_CLASS} must be kept at least {AUDIT_MINIMUM_DAYS} days (CJIS Security "
                             f"Policy 5.4.7), not {audit.days}")
        return self


@dataclass(frozen=True)
class Schedule:
    """The default pack and each agency's overrides: `days(class, agency)`, `cutoff(class, agency, now)`."""

    default: RetentionPack
    agencies: Mapping[str, RetentionPack]

    def days(self, record_class: str, agency: str | None = None) -> int:
        pack = self.agencies.get(agency) if agency else None
        if pack is not None and record_class in pack.classes:
            return pack.classes[record_class].days
        return self.default.classes[record_class].days

    def cutoff(self, record_class: str, now: dt.datetime, agency: str | None = None) -> dt.datetime:
        """Records of `record_class` anchored before this instant are past retention."""
        return now - dt.timedelta(days=self.days(record_class, agency))

    def overriding(self, record_class: str) -> dict[str, int]:
        """Agencies whose own pack sets `record_class`, and their days."""
        return {name: pack.classes[record_class].days for name, pack in self.agencies.items()
                if record_class in pack.classes}

    def versions(self) -> dict[str, str]:
        return {DEFAULT: self.default.version, **{name: p.version for name, p in sorted(self.agencies.items())}}


def parse_pack(document: Any, where: str = "<pack>") -> RetentionPack:
    try:
        return RetentionPack.model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'pack'}: {e['msg']}" for e in exc.errors())
        raise RetentionError(f"{where}: {problems}") from None


def load_pack(path: Path) -> RetentionPack:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise RetentionError(f"{path}: cannot be read as YAML ({exc})") from None
    pack = parse_pack(document, str(path))
    if pack.agency != path.stem:
        raise RetentionError(f"{path}: agency {pack.agency!r} must match the file name {path.stem!r}")
    return pack


def packs_dir() -> Path:
    configured = os.environ.get("DIVERSION_RETENTION_PACKS")
    return Path(configured) if configured else PACKS_DIR


def load_schedule(directory: Path | None = None) -> Schedule:
    """Every pack of `directory` (default: the shipped packs); the default pack must name every class."""
    folder = directory or packs_dir()
    default_path = folder / f"{DEFAULT}.yaml"
    if not default_path.is_file():
        raise RetentionError(f"{default_path}: the default retention pack is missing")
    default = load_pack(default_path)
    missing = sorted(set(RECORD_CLASSES) - set(default.classes))
    if missing:
        raise RetentionError(
            f"{default_path}: the default pack must schedule every class; missing {', '.join(missing)}")
    agencies = {path.stem: load_pack(path) for path in sorted(folder.glob("*.yaml")) if path.stem != DEFAULT}
    return Schedule(default, agencies)
