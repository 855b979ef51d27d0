"""The service's settings: reminder offsets and quiet hours from the environment, bad values named."""

from __future__ import annotations

from datetime import time, timedelta

import pytest

from services.notifications.service import SETTINGS_CLASS
from services.notifications.settings import NotificationSettings, parse_offset
from shared.config import ConfigError, load_settings


def test_the_service_exposes_its_settings_class_for_the_runner():
    assert SETTINGS_CLASS is NotificationSettings


def test_reminder_offsets_and_quiet_hours_come_from_the_environment():
    settings = load_settings("notifications", env={
        "DIVERSION_NOTIFICATIONS_REMINDER_OFFSETS": "48h, 90m",
        "DIVERSION_NOTIFICATIONS_QUIET_HOURS_START": "22:00",
        "DIVERSION_NOTIFICATIONS_QUIET_HOURS_END": "07:30",
        "DIVERSION_NOTIFICATIONS_TIMEZONE": "America/New_York",
    }, extra_class=SETTINGS_CLASS)
    policy = settings.extra.reminder_policy()
    assert policy.offsets == (timedelta(hours=48), timedelta(minutes=90))
    assert (policy.quiet_start, policy.quiet_end, policy.timezone) == (time(22), time(7, 30), "America/New_York")


def test_defaults_remind_24_and_2_hours_before_outside_21_to_8():
    policy = NotificationSettings().reminder_policy()
    assert policy.offsets == (timedelta(hours=24), timedelta(hours=2))
    assert (policy.quiet_start, policy.quiet_end, policy.quiet_hours) == (time(21), time(8), True)


def test_quiet_hours_can_be_switched_off_for_a_local_demo():
    settings = load_settings("notifications", env={
        "DIVERSION_NOTIFICATIONS_QUIET_HOURS_ENABLED": "false"}, extra_class=SETTINGS_CLASS)
    assert settings.extra.reminder_policy().quiet_hours is False


@pytest.mark.parametrize(("variable", "value"), [
    ("DIVERSION_NOTIFICATIONS_REMINDER_OFFSETS", "tomorrow"),
    ("DIVERSION_NOTIFICATIONS_TIMEZONE", "Mars/Olympus"),
    ("DIVERSION_NOTIFICATIONS_LEASE_SECONDS", "1"),
])
def test_a_bad_value_stops_the_service_naming_the_variable(variable, value):
    with pytest.raises(ConfigError, match=variable):
        load_settings("notifications", env={variable: value}, extra_class=SETTINGS_CLASS)


def test_offsets_read_like_people_write_them():
    assert parse_offset("1d") == timedelta(days=1) and parse_offset("15min") == timedelta(minutes=15)
    with pytest.raises(ValueError):
        parse_offset("0h")


def test_an_instance_timeout_shorter_than_two_heartbeats_is_refused_by_name():
    with pytest.raises(ConfigError, match="instance_timeout_seconds"):
        load_settings("notifications", env={
            "DIVERSION_NOTIFICATIONS_HEARTBEAT_INTERVAL_SECONDS": "2",
            "DIVERSION_NOTIFICATIONS_INSTANCE_TIMEOUT_SECONDS": "3"}, extra_class=SETTINGS_CLASS)
