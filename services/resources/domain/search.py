"""Pure pieces of directory search: weekly opening hours from HSDS schedules, local time, distance, FTS5 terms.

Distances use the equirectangular approximation (exact enough within a metro area, and plain
arithmetic, so PostgreSQL and SQLite compute the same thing without PostGIS or math extensions).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

KM_PER_DEGREE = 111.195  # mean Earth radius 6371.0 km * pi / 180
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
MINUTES_PER_DAY = 24 * 60


@dataclass(frozen=True)
class WeeklySchedule:
    """The HSDS schedule fields that say when a service is open each week."""

    freq: str | None
    byday: str | None
    opens_at: dt.time | None
    closes_at: dt.time | None
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None


@dataclass(frozen=True)
class OpenSpan:
    weekday: int  # 0 = Monday
    opens_minute: int
    closes_minute: int  # exclusive


def _minute(value: dt.time) -> int:
    return value.hour * 60 + value.minute


def weekly_hours(schedules: Iterable[WeeklySchedule], today: dt.date | None = None) -> list[OpenSpan]:
    """Open spans per weekday. Schedules that are not weekly by-day with both times (monthly, by date,
    or only described in words) say nothing searchable and are skipped; a span past midnight is split."""
    spans: set[OpenSpan] = set()
    for schedule in schedules:
        if schedule.freq not in (None, "WEEKLY") or not schedule.byday:
            continue
        if schedule.opens_at is None or schedule.closes_at is None:
            continue
        if today is not None and schedule.valid_to is not None and schedule.valid_to < today:
            continue
        days = [d.strip().upper() for d in schedule.byday.split(",") if d.strip()]
        if any(d not in WEEKDAYS for d in days):  # "1MO" and the like are monthly rules
            continue
        opens, closes = _minute(schedule.opens_at), _minute(schedule.closes_at)
        for day in days:
            weekday = WEEKDAYS.index(day)
            if closes > opens:
                spans.add(OpenSpan(weekday, opens, closes))
            elif closes == opens:  # "00:00-00:00": open all day
                spans.add(OpenSpan(weekday, 0, MINUTES_PER_DAY))
            else:
                spans.add(OpenSpan(weekday, opens, MINUTES_PER_DAY))
                if closes > 0:
                    spans.add(OpenSpan((weekday + 1) % 7, 0, closes))
    return sorted(spans, key=lambda s: (s.weekday, s.opens_minute))


def local_moment(at: dt.datetime, timezone: str) -> tuple[int, int]:
    """(weekday, minute of the day) of `at` in the directory's time zone."""
    local = (at if at.tzinfo else at.replace(tzinfo=dt.UTC)).astimezone(ZoneInfo(timezone))
    return local.weekday(), local.hour * 60 + local.minute


@dataclass(frozen=True)
class Circle:
    """Around a point: a bounding box for the index, and the scale that makes degrees comparable."""

    latitude: float
    longitude: float
    radius_km: float

    @property
    def lon_scale(self) -> float:
        return max(math.cos(math.radians(self.latitude)), 0.01)

    @property
    def box(self) -> tuple[float, float, float, float]:
        dlat = self.radius_km / KM_PER_DEGREE
        dlon = dlat / self.lon_scale
        return self.latitude - dlat, self.latitude + dlat, self.longitude - dlon, self.longitude + dlon

    @property
    def radius_squared_degrees(self) -> float:
        return (self.radius_km / KM_PER_DEGREE) ** 2

    def km(self, squared_degrees: float) -> float:
        return math.sqrt(max(squared_degrees, 0.0)) * KM_PER_DEGREE


_WORD = re.compile(r"\w+", re.UNICODE)


def fts5_query(text: str) -> str | None:
    """Free text as an FTS5 query: every word must match (like websearch_to_tsquery), operators disarmed."""
    words = _WORD.findall(text)
    if not words:
        return None
    return " ".join(f'"{word}"' for word in words[:20])
