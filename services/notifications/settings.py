"""The notifications service's own settings (`DIVERSION_NOTIFICATIONS_*`): channels plus delivery and reminders."""

from __future__ import annotations

import re
from datetime import time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator
from pydantic_settings import NoDecode

from services.notifications.channels.settings import ChannelSettings
from services.notifications.domain.reminders import ReminderPolicy

_DURATION = re.compile(r"^\s*(\d+)\s*(m|min|h|d)\s*$", re.IGNORECASE)


def parse_offset(text: str) -> timedelta:
    """'24h', '2h', '90m', '1d' -> timedelta; raises ValueError."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration like 24h, 90m or 1d")
    amount, unit = int(match.group(1)), match.group(2).lower()
    delta = {"m": timedelta(minutes=amount), "min": timedelta(minutes=amount),
             "h": timedelta(hours=amount), "d": timedelta(days=amount)}[unit]
    if delta <= timedelta(0):
        raise ValueError("reminder offsets must be positive")
    return delta


class NotificationSettings(ChannelSettings):
    # Delivery worker
    dispatch_interval_seconds: float = Field(default=1.0, gt=0, le=60)
    dispatch_batch: int = Field(default=200, ge=1, le=5000)
    dispatch_concurrency: int = Field(default=100, ge=1, le=1000)  # sends in flight per instance
    # A claimed delivery whose sender vanished (crash) is claimed again after this long; it must be
    # longer than any send takes, or a slow send could be repeated by another instance.
    lease_seconds: float = Field(default=120.0, ge=5, le=3600)
    # Each instance beats this often in its database; one silent for `instance_timeout_seconds` is taken
    # for dead, and a live instance sends the deliveries it had claimed again at once (same webhook-id).
    heartbeat_interval_seconds: float = Field(default=1.0, gt=0, le=60)
    instance_timeout_seconds: float = Field(default=5.0, ge=1, le=3600)
    retry_jitter: float = Field(default=0.1, ge=0, lt=1)
    # The benchmark's baseline only (`make bench-notifications`, ADR 0070): partner deliveries are sent without
    # the send-time consent check. Never set it where real people's data is sent; the service warns at start.
    bench_without_consent_check: bool = False
    secret_rotation_grace_hours: float = Field(default=24.0, ge=0, le=24 * 30)

    # Participant reminders
    reminder_offsets: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["24h", "2h"])
    quiet_hours_start: time = time(21, 0)
    quiet_hours_end: time = time(8, 0)
    # Off only where no real person is reminded: `diversion run` turns it off so the demo's reminder comes now.
    quiet_hours_enabled: bool = True
    timezone: str = "America/Chicago"

    # Inbound SMS (STOP / START): a shared secret header, or the provider's signature over this URL.
    sms_inbound_secret: str | None = Field(default=None, repr=False)
    sms_inbound_url: str | None = None

    # Links in staff emails: the agency's own staff application (`staff_app_urls`, `agency=url;agency=url`),
    # else `staff_app_url` for every agency, else no link at all (the suite serves no staff front end).
    staff_app_url: str = Field(default="", max_length=500)
    staff_app_urls: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict)
    # A staff notice for someone without a contact yet waits this long for the contact (staff.registered).
    pending_staff_notice_days: int = Field(default=14, ge=1, le=365)
    sender_name: str = Field(default="Diversion Program", max_length=100)

    @field_validator("staff_app_urls", mode="before")
    @classmethod
    def _split_app_urls(cls, value: Any) -> Any:
        if isinstance(value, str):
            pairs = [item.strip() for item in value.split(";") if item.strip()]
            value = {}
            for pair in pairs:
                agency, sep, url = pair.partition("=")
                if not sep or not agency.strip() or not url.strip().startswith(("https://", "http://")):
                    raise ValueError(f"{pair!r} is not agency=https://app.example")
                value[agency.strip()] = url.strip()
        return value

    def staff_app_url_for(self, agency: str) -> str:
        return self.staff_app_urls.get(agency) or self.staff_app_url

    @field_validator("reminder_offsets", mode="before")
    @classmethod
    def _split_offsets(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [item.strip() for item in value.split(",") if item.strip()]
        for item in value:
            parse_offset(item)
        return value

    @model_validator(mode="after")
    def _timeout_spans_beats(self) -> NotificationSettings:
        if self.instance_timeout_seconds < 2 * self.heartbeat_interval_seconds:
            raise ValueError("instance_timeout_seconds must be at least twice heartbeat_interval_seconds, "
                             "or a live instance that misses one beat is taken for dead")
        return self

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone") from None
        return value

    def reminder_policy(self) -> ReminderPolicy:
        return ReminderPolicy(
            offsets=tuple(parse_offset(item) for item in self.reminder_offsets),
            quiet_start=self.quiet_hours_start,
            quiet_end=self.quiet_hours_end,
            quiet_hours=self.quiet_hours_enabled,
            timezone=self.timezone,
        )


def notification_settings_of(settings: Any) -> NotificationSettings:
    extra = getattr(settings, "extra", None)
    return extra if isinstance(extra, NotificationSettings) else NotificationSettings()
