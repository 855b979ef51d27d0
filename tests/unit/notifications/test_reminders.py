"""Reminder planning: offsets before the appointment, quiet hours in the agency's timezone."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.notifications.domain.reminders import (
    ReminderPolicy,
    in_quiet_hours,
    plan_reminders,
)

CHICAGO = ZoneInfo("America/Chicago")
POLICY = ReminderPolicy()
BOOKED = datetime(2025, 3, 1, 9, 0, tzinfo=CHICAGO)


def local(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2025, month, day, hour, minute, tzinfo=CHICAGO)


def test_afternoon_appointment_gets_reminders_24_and_2_hours_before() -> None:
    planned = plan_reminders(local(10, 15), BOOKED, POLICY)
    assert [r.send_at for r in planned] == [local(9, 15), local(10, 13)]
    assert not any(r.moved for r in planned)


def test_reminder_in_quiet_hours_moves_to_the_morning_when_still_before_the_appointment() -> None:
    # 10:00 appointment: the 2 h reminder (08:00) is fine, the 24 h one too; a 9:30 appointment's
    # 2 h reminder falls at 07:30 (quiet) and moves to 08:00.
    planned = plan_reminders(local(10, 9, 30), BOOKED, POLICY)
    assert [r.send_at for r in planned] == [local(9, 9, 30), local(10, 8)]
    assert planned[1].moved


def test_reminder_moves_to_the_evening_before_when_the_morning_is_too_close() -> None:
    # 08:30 appointment: 2 h before is 06:30 (quiet); 08:00 is only 30 min before, so the
    # reminder goes to the start of quiet hours minus the margin, the evening before.
    planned = plan_reminders(local(10, 8, 30), BOOKED, POLICY)
    assert [r.send_at for r in planned] == [local(9, 8, 30), local(9, 20, 45)]


def test_late_evening_appointment_reminder_the_night_before_moves_to_that_morning() -> None:
    # 22:00 appointment (e.g. a night shift check-in): 24 h before is 22:00, quiet, -> 08:00 same day.
    planned = plan_reminders(local(10, 22), BOOKED, POLICY)
    assert [r.send_at for r in planned] == [local(10, 8), local(10, 20)]


def test_reminders_already_in_the_past_are_not_planned() -> None:
    planned = plan_reminders(local(10, 15), local(10, 12), POLICY)
    assert [r.send_at for r in planned] == [local(10, 13)]


def test_reminders_that_land_on_the_same_time_collapse_into_one() -> None:
    policy = ReminderPolicy(offsets=(timedelta(hours=3), timedelta(hours=2)))
    # 09:30 appointment: 06:30 and 07:30 are both quiet and both move to 08:00.
    planned = plan_reminders(local(10, 9, 30), BOOKED, policy)
    assert [r.send_at for r in planned] == [local(10, 8)]


def test_quiet_hours_use_the_agency_timezone_not_utc() -> None:
    # 03:30 UTC is 21:30 in Chicago (CST): quiet there, though mid-night UTC would be irrelevant.
    assert in_quiet_hours(datetime(2025, 1, 10, 3, 30, tzinfo=UTC), POLICY)
    assert not in_quiet_hours(datetime(2025, 1, 10, 15, 0, tzinfo=UTC), POLICY)
    eastern = ReminderPolicy(timezone="America/New_York")
    assert not in_quiet_hours(datetime(2025, 1, 10, 1, 30, tzinfo=UTC), POLICY)  # 19:30 Chicago
    assert in_quiet_hours(datetime(2025, 1, 10, 2, 30, tzinfo=UTC), eastern)  # 21:30 New York


def test_reminder_across_a_daylight_saving_change_keeps_local_wall_time() -> None:
    # DST starts 2025-03-09 in Chicago: the day-before reminder for 15:00 is still 15:00 local,
    # only 23 real hours earlier, also when the appointment is given in UTC.
    appointment = local(9, 15).astimezone(UTC)
    planned = plan_reminders(appointment, BOOKED, POLICY)
    assert planned[0].send_at == local(8, 15)
    assert appointment - planned[0].send_at == timedelta(hours=23)


def test_offsets_and_quiet_hours_are_configurable() -> None:
    policy = ReminderPolicy(offsets=(timedelta(hours=48),), quiet_start=time(20), quiet_end=time(9))
    planned = plan_reminders(local(10, 8, 30), BOOKED, policy)
    # 48 h before is 08:30 on the 8th, quiet until 09:00.
    assert [r.send_at for r in planned] == [local(8, 9)]


def test_naive_appointment_time_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        plan_reminders(datetime(2025, 3, 10, 15), BOOKED, POLICY)


def test_with_quiet_hours_off_a_night_reminder_stays_at_night() -> None:
    """Only `diversion run` (the local demo) turns quiet hours off; then 02:00 is a time like any other."""
    policy = ReminderPolicy(offsets=(timedelta(hours=2),), quiet_hours=False)
    planned = plan_reminders(local(10, 4), BOOKED, policy)
    assert [(r.send_at, r.moved) for r in planned] == [(local(10, 2), False)]
    assert not in_quiet_hours(local(10, 2), policy)
    assert in_quiet_hours(local(10, 2), POLICY)


def test_an_appointment_booked_90_minutes_ahead_gets_one_reminder_now() -> None:
    """The known bug: booked inside every offset (24 h and 2 h), it used to get no reminder at all."""
    planned = plan_reminders(local(10, 15), local(10, 13, 30), POLICY)
    assert [(r.send_at, r.offset) for r in planned] == [(local(10, 13, 30), timedelta(hours=24))]


def test_a_late_booking_in_quiet_hours_is_reminded_when_they_end_if_that_leaves_notice() -> None:
    # Booked at 22:00 for 09:30 the next morning: not now (quiet), but 08:00, 90 minutes before.
    assert [r.send_at for r in plan_reminders(local(11, 9, 30), local(10, 22), POLICY)] == [local(11, 8)]
    # Booked at 22:00 for 08:30: 08:00 leaves only 30 minutes, the evening has passed: none at all.
    assert plan_reminders(local(11, 8, 30), local(10, 22), POLICY) == []


def test_no_catch_up_reminder_for_an_appointment_that_has_begun() -> None:
    assert plan_reminders(local(10, 15), local(10, 15, 5), POLICY) == []
