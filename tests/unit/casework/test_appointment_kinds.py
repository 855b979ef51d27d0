"""Appointment kinds as data: each kind's required fields, the old spellings, reschedule and cancel rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.casework.domain.appointments import (
    KINDS,
    AppointmentFieldsInvalid,
    AppointmentKind,
    AppointmentNotChangeable,
    Slot,
    cancel,
    check_kind_fields,
    kind_of,
    reschedule,
)

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
COURT = {"court": "22nd Judicial Circuit", "division": "Division 16", "docket_number": "2231-CR01234"}


def test_every_kind_is_in_the_table_and_only_a_hearing_requires_fields():
    assert set(KINDS) == set(AppointmentKind)
    assert {kind for kind, spec in KINDS.items() if spec.requires} == {AppointmentKind.COURT_HEARING}


@pytest.mark.parametrize("missing", ["court", "division", "docket_number"])
def test_a_court_hearing_needs_court_division_and_docket(missing):
    with pytest.raises(AppointmentFieldsInvalid) as refused:
        check_kind_fields(AppointmentKind.COURT_HEARING, {**COURT, missing: None})
    assert [e["field"] for e in refused.value.errors] == [missing]
    check_kind_fields(AppointmentKind.COURT_HEARING, COURT)


def test_other_kinds_take_no_court_fields():
    with pytest.raises(AppointmentFieldsInvalid, match="has no court fields"):
        check_kind_fields(AppointmentKind.DRUG_TEST, {"court": "22nd Judicial Circuit"})
    check_kind_fields(AppointmentKind.CHECK_IN, {})


@pytest.mark.parametrize(("text", "kind"), [("check-in", "check_in"), ("Court", "court_hearing"),
                                            ("drug_test", "drug_test"), ("UA", "drug_test"), ("karaoke", None)])
def test_old_spellings_name_their_kind(text, kind):
    assert kind_of(text) == (AppointmentKind(kind) if kind else None)


def test_a_new_start_keeps_the_length_and_times_are_utc():
    current = Slot(NOW, NOW + timedelta(hours=1), "Room 4")
    moved = reschedule("scheduled", current, datetime(2026, 3, 4, 9, 0, tzinfo=ZoneInfo("America/Chicago")),
                       None, None)
    assert moved == Slot(datetime(2026, 3, 4, 15, 0, tzinfo=UTC), datetime(2026, 3, 4, 16, 0, tzinfo=UTC), "Room 4")
    assert moved.starts_at.tzinfo is UTC


def test_a_reschedule_that_ends_before_it_starts_is_refused():
    with pytest.raises(AppointmentFieldsInvalid, match="ends after it starts"):
        reschedule("scheduled", Slot(NOW, None, None), NOW + timedelta(days=1), NOW, None)


@pytest.mark.parametrize("status", ["attended", "missed", "cancelled"])
def test_only_a_scheduled_appointment_moves_or_is_cancelled(status):
    with pytest.raises(AppointmentNotChangeable):
        reschedule(status, Slot(NOW, None, None), NOW + timedelta(days=1), None, None)
    with pytest.raises(AppointmentNotChangeable):
        cancel(status)
    assert cancel("scheduled") == "cancelled"
