"""The ledger API's four states (domain/sealing_ledger.state): pending, missing, surfaced, complete."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.intake.domain.sealing_ledger import (
    CONFIRM_BOUND,
    MAX_RETRIES,
    SERVICES,
    LedgerEntry,
    confirm,
    retried,
    state,
)

T0 = datetime(2026, 12, 2, 20, 0, tzinfo=UTC)


def _entry() -> LedgerEntry:
    return confirm(LedgerEntry(request_id="r1", kind="sealing", referral_id="ref-1", pack_version="2026.1",
                               requested_at=T0), "intake", T0)


def test_a_fresh_request_is_pending_until_the_bound_then_missing() -> None:
    entry = _entry()
    assert state(entry, T0) == "pending"
    assert state(entry, T0 + CONFIRM_BOUND - timedelta(microseconds=1)) == "pending"
    assert state(entry, T0 + CONFIRM_BOUND) == "missing"


def test_spent_retries_surface_and_every_confirmation_completes() -> None:
    entry = _entry()
    for n in range(MAX_RETRIES - 1):
        entry = retried(entry, T0 + CONFIRM_BOUND * (n + 1))
    assert state(entry, T0 + CONFIRM_BOUND * MAX_RETRIES) == "missing"
    entry = retried(entry, T0 + CONFIRM_BOUND * MAX_RETRIES)
    assert state(entry, T0 + CONFIRM_BOUND * MAX_RETRIES) == "surfaced"
    for service in SERVICES:
        entry = confirm(entry, service, T0 + timedelta(seconds=70))
    assert state(entry, T0 + timedelta(days=1)) == "complete"
