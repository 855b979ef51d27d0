"""Intake's sealing ledger as plain rules (ADR 0083): which services confirmed a sealing or erasure
request, which are missing, and when a missing one is due a retry or must be surfaced.

No I/O: the usecase that stores the ledger (`usecases/sealing.py`, table `sealing_ledger` of migration
intake_0021) keeps these fields in a row and calls these functions with the clock's `now`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

SERVICES = ("intake", "casework", "resources", "notifications")
KINDS = frozenset({"sealing", "erasure"})
CONFIRM_BOUND = timedelta(seconds=10)  # the target of issue 16's must-show
MAX_RETRIES = 5
STATES = ("pending", "complete", "missing", "surfaced")


class LedgerError(ValueError):
    """A confirmation the ledger cannot take (unknown service, wrong request)."""


@dataclass(frozen=True)
class LedgerEntry:
    request_id: str
    kind: str
    referral_id: str
    pack_version: str
    requested_at: datetime
    confirmed: dict[str, datetime] = field(default_factory=dict)
    retries: int = 0
    last_sent_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise LedgerError(f"kind {self.kind!r} is not one of {sorted(KINDS)}")

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(service for service in SERVICES if service not in self.confirmed)

    @property
    def complete(self) -> bool:
        return not self.missing


def confirm(entry: LedgerEntry, service: str, at: datetime) -> LedgerEntry:
    """The entry with `service` confirmed; a repeated confirmation keeps the first time (redelivery)."""
    if service not in SERVICES:
        raise LedgerError(f"service {service!r} is not one of {list(SERVICES)}")
    if service in entry.confirmed:
        return entry
    return replace(entry, confirmed={**entry.confirmed, service: at})


def due_for_retry(entry: LedgerEntry, now: datetime, bound: timedelta = CONFIRM_BOUND) -> bool:
    """A missing confirmation past the bound since the last send, with retries left."""
    if entry.complete or entry.retries >= MAX_RETRIES:
        return False
    return now - (entry.last_sent_at or entry.requested_at) >= bound


def retried(entry: LedgerEntry, now: datetime) -> LedgerEntry:
    return replace(entry, retries=entry.retries + 1, last_sent_at=now)


def surfaced(entry: LedgerEntry) -> bool:
    """Retries spent and still missing: the ledger API and a metric show it to the agency."""
    return not entry.complete and entry.retries >= MAX_RETRIES


def elapsed(entry: LedgerEntry) -> timedelta | None:
    """From request to the last confirmation, once every service confirmed (the measured bound)."""
    if not entry.complete:
        return None
    return max(entry.confirmed.values()) - entry.requested_at


def state(entry: LedgerEntry, now: datetime, bound: timedelta = CONFIRM_BOUND) -> str:
    """What the ledger API shows: `complete` (every service confirmed), `surfaced` (retries spent, still
    missing), `missing` (a service silent past the bound since the request, retries left), else `pending`."""
    if entry.complete:
        return "complete"
    if surfaced(entry):
        return "surfaced"
    if now - entry.requested_at >= bound:
        return "missing"
    return "pending"
