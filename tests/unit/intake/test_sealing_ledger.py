"""Intake's sealing ledger rules (ADR 0083): confirmations, redelivery, retry and surfacing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.intake.domain.sealing_ledger import (
    MAX_RETRIES,
    SERVICES,
    LedgerEntry,
    LedgerError,
    confirm,
    due_for_retry,
    elapsed,
    retried,
    surfaced,
)

T0 = datetime(2026, 12, 2, 20, 0, tzinfo=UTC)


def _entry() -> LedgerEntry:
    return LedgerEntry(request_id="r1", kind="sealing", referral_id="ref-1", pack_version="2026.1", requested_at=T0)


def test_each_service_confirms_once_and_elapsed_is_measured() -> None:
    entry = _entry()
    for offset, service in enumerate(SERVICES, start=1):
        entry = confirm(entry, service, T0 + timedelta(seconds=offset))
    assert entry.complete and entry.missing == ()
    again = confirm(entry, "casework", T0 + timedelta(seconds=99))
    assert again.confirmed["casework"] == T0 + timedelta(seconds=2)
    assert elapsed(entry) == timedelta(seconds=4)


def test_missing_service_is_retried_after_the_bound_then_surfaced() -> None:
    entry = confirm(confirm(confirm(_entry(), "intake", T0), "casework", T0), "resources", T0)
    assert entry.missing == ("notifications",) and elapsed(entry) is None
    assert not due_for_retry(entry, T0 + timedelta(seconds=9))
    assert due_for_retry(entry, T0 + timedelta(seconds=10))
    now = T0
    for _ in range(MAX_RETRIES):
        now += timedelta(seconds=10)
        assert due_for_retry(entry, now) and not surfaced(entry)
        entry = retried(entry, now)
        assert not due_for_retry(entry, now + timedelta(seconds=9))
    assert surfaced(entry) and not due_for_retry(entry, now + timedelta(hours=1))
    assert not surfaced(confirm(entry, "notifications", now))


def test_unknown_service_or_kind_is_refused() -> None:
    with pytest.raises(LedgerError, match="billing"):
        confirm(_entry(), "billing", T0)
    with pytest.raises(LedgerError, match="purge"):
        LedgerEntry(request_id="r", kind="purge", referral_id="x", pack_version="1", requested_at=T0)
