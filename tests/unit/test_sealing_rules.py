"""shared/sealing.py: the sealing pack, the 610.120 legal basis and the erasure tombstone (ADR 0083)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shared.auth import ROLES
from shared.sealing import (
    LEGAL_BASES,
    LegalBasisProblem,
    SealingError,
    legal_basis,
    load_pack,
    person_tombstone,
    tombstone,
)

DECIDED = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


def test_demo_pack_seals_dismissal_and_one_day_probation_at_once_and_nothing_else() -> None:
    pack = load_pack("stl-cao")
    assert pack.version == "2026.1"
    assert pack.seal_at("dismissal", DECIDED) == DECIDED
    assert pack.seal_at("one_day_probation", DECIDED) == DECIDED
    assert pack.seal_at("returned_to_prosecution", DECIDED) is None
    assert pack.seal_at("withdrawn", DECIDED) is None


def test_a_pack_with_a_delay_and_a_bad_pack(tmp_path: Path) -> None:
    rule = "rules:\n  - {disposition: %s, seal_after_days: %d}\n"
    (tmp_path / "x.yaml").write_text("agency: x\nversion: '1'\n" + rule % ("dismissal", 30))
    assert load_pack("x", tmp_path).seal_at("dismissal", DECIDED) == DECIDED + timedelta(days=30)
    (tmp_path / "y.yaml").write_text("agency: y\nversion: '1'\n" + rule % ("acquittal", 0))
    with pytest.raises(SealingError, match="acquittal"):
        load_pack("y", tmp_path)
    with pytest.raises(SealingError, match="no sealing pack"):
        load_pack("absent", tmp_path)


def test_records_officer_is_a_role_and_needs_a_610_120_code() -> None:
    assert "records_officer" in ROLES
    officer = frozenset({"records_officer"})
    assert legal_basis(officer, " Court-Order ") == "court-order"
    with pytest.raises(LegalBasisProblem) as no_header:
        legal_basis(officer, None)
    assert no_header.value.status == 400 and "X-Legal-Basis" in no_header.value.detail
    with pytest.raises(LegalBasisProblem) as unknown:
        legal_basis(officer, "curiosity")
    assert unknown.value.status == 400 and "610.120" in unknown.value.detail
    for role in ("screener", "case_manager", "supervisor", "partner", "admin", "auditor"):
        with pytest.raises(LegalBasisProblem) as denied:
            legal_basis(frozenset({role}), "court-order")
        assert denied.value.status == 403
    assert len(LEGAL_BASES) >= 4


def test_tombstone_is_keyed_normalised_and_not_readable() -> None:
    key = b"k" * 32
    one = person_tombstone(key, "stl-cao", "Doe", "Jane", "2001-02-03")
    assert one == person_tombstone(key, "STL-CAO", " doe ", "JANE", "2001-02-03")
    assert one != person_tombstone(b"other-key", "stl-cao", "Doe", "Jane", "2001-02-03")
    assert one != person_tombstone(key, "stl-cao", "Doe", "John", "2001-02-03")
    assert "doe" not in one.lower() and len(one) == 64
    assert tombstone(key, "a", "case", "c-1") != tombstone(key, "a", "participant", "c-1")
    with pytest.raises(SealingError):
        tombstone(b"", "a", "case", "c-1")
