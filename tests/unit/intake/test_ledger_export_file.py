"""`diversion sealing export` / `reapply --ledger`: the ledger file round-trips, and a bad line is refused
with its number and what is wrong (nothing imported)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from services.intake.models import Base, SealingLedgerRow
from services.intake.usecases.reapply import LedgerFileError, export_ledger, import_ledger

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


def _session() -> Session:
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    return Session(engine)


def _entry(request_id: str, kind: str = "sealing") -> SealingLedgerRow:
    return SealingLedgerRow(request_id=request_id, agency_id="stl-cao", kind=kind, referral_id=f"ref-{request_id}",
                            case_id=None, pack_version="2026.1", disposition="dismissal", basis=None,
                            seal_due_at=NOW, requested_at=NOW, confirmed='{"intake": "2026-12-01T12:00:00+00:00"}',
                            retries=0, last_sent_at=NOW, created_at=NOW)


def test_an_exported_ledger_brings_back_what_a_restored_ledger_lost_and_nothing_twice() -> None:
    source = _session()
    source.add_all([_entry("a"), _entry("b", "erasure")])
    source.commit()
    exported = export_ledger(source)
    assert [e["request_id"] for e in exported] == ["a", "b"] and exported[0]["requested_at"].endswith("+00:00")

    restored = _session()
    restored.add(_entry("a"))
    restored.commit()
    assert import_ledger(restored, exported) == 1
    assert import_ledger(restored, exported) == 0
    back = restored.get(SealingLedgerRow, "b")
    assert back is not None and back.kind == "erasure" and back.requested_at == NOW


@pytest.mark.parametrize(("bad", "message"), [
    ({"kind": "shredding"}, "entry 2: kind 'shredding'"),
    ({"requested_at": "yesterday"}, "entry 2: Invalid isoformat"),
    ({"request_id": ""}, "entry 2: kind 'sealing' / request_id ''"),
])
def test_a_bad_entry_is_refused_with_its_number(bad: dict[str, object], message: str) -> None:
    session = _session()
    good = export_ledger_of([_entry("a")])
    with pytest.raises(LedgerFileError, match=message):
        import_ledger(session, [good[0], {**good[0], "request_id": "z", **bad}])
    session.rollback()
    assert session.scalar(select(func.count()).select_from(SealingLedgerRow)) == 0


def export_ledger_of(rows: list[SealingLedgerRow]) -> list[dict[str, object]]:
    session = _session()
    session.add_all(rows)
    session.commit()
    return export_ledger(session)
