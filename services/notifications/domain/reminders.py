"""When to remind a participant of an appointment: offsets before it, moved out of quiet hours.

Quiet-hours rule (also in docs for the lead): a reminder that falls inside quiet hours (local
time of the agency) moves to the END of the quiet period when that is still at least
`min_notice` before the appointment; otherwise it moves back to the START of the quiet period
minus `margin` (the evening before). If the moved time has already passed, the reminder is
dropped. Two reminders that land on the same minute collapse into one. Rationale: a reminder
the morning of the appointment is more useful than one the evening before, but a reminder at
08:00 for an 08:15 appointment is useless, so then the evening before wins. An appointment booked so soon that
every offset has passed gets one reminder at once (or when quiet hours end, if that leaves
`min_notice`). Offsets are local wall-clock time ("24 h before" 15:00 is 15:00 the day before,
also across a DST change).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

DEFAULT_TIMEZONE = "America/Chicago"


@dataclass(frozen=True)
class ReminderPolicy:
    offsets: tuple[timedelta, ...] = (timedelta(hours=24), timedelta(hours=2))
    quiet_start: time = time(21, 0)
    quiet_end: time = time(8, 0)
    quiet_hours: bool = True  # False: send at any hour (a local demo; never for real participants)
    timezone: str = DEFAULT_TIMEZONE
    margin: timedelta = timedelta(minutes=15)
    min_notice: timedelta = timedelta(minutes=60)
    zone: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if any(offset <= timedelta(0) for offset in self.offsets):
            raise ValueError("reminder offsets must be positive (time before the appointment)")
        if self.quiet_start == self.quiet_end:
            raise ValueError("quiet hours start and end must differ")
        object.__setattr__(self, "zone", ZoneInfo(self.timezone))


@dataclass(frozen=True)
class PlannedReminder:
    send_at: datetime  # aware, in the agency's timezone
    offset: timedelta  # the configured offset it came from
    moved: bool  # True when quiet hours moved it


def _require_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


def quiet_period(moment: datetime, policy: ReminderPolicy) -> tuple[datetime, datetime] | None:
    """The quiet period (start, end) containing `moment`, or None when it is outside quiet hours."""
    _require_aware(moment, "moment")
    if not policy.quiet_hours:
        return None
    local = moment.astimezone(policy.zone)
    zone = policy.zone

    def at(day: datetime, clock: time) -> datetime:
        return datetime.combine(day.date(), clock, tzinfo=zone)

    if policy.quiet_start < policy.quiet_end:  # same-day window, e.g. 12:00-13:00
        if policy.quiet_start <= local.time() < policy.quiet_end:
            return at(local, policy.quiet_start), at(local, policy.quiet_end)
        return None
    # Window over midnight, e.g. 21:00-08:00.
    if local.time() >= policy.quiet_start:
        return at(local, policy.quiet_start), at(local + timedelta(days=1), policy.quiet_end)
    if local.time() < policy.quiet_end:
        return at(local - timedelta(days=1), policy.quiet_start), at(local, policy.quiet_end)
    return None


def in_quiet_hours(moment: datetime, policy: ReminderPolicy) -> bool:
    return quiet_period(moment, policy) is not None


def plan_reminders(appointment_at: datetime, now: datetime, policy: ReminderPolicy) -> list[PlannedReminder]:
    """Reminders to schedule for one appointment, earliest first."""
    _require_aware(appointment_at, "appointment_at")
    _require_aware(now, "now")
    planned: dict[datetime, PlannedReminder] = {}
    missed: list[timedelta] = []
    for offset in sorted(policy.offsets, reverse=True):
        # Wall-clock arithmetic in the agency's zone: "24 h before" a 15:00 appointment is 15:00
        # the day before even across a DST change; the UTC round trip resolves a skipped hour.
        send_at = (appointment_at.astimezone(policy.zone) - offset).astimezone(UTC).astimezone(policy.zone)
        moved = False
        period = quiet_period(send_at, policy)
        if period is not None:
            start, end = period
            moved = True
            send_at = end if end <= appointment_at - policy.min_notice else start - policy.margin
        if send_at <= now:
            missed.append(offset)
            continue
        if send_at >= appointment_at:
            continue
        key = send_at.replace(second=0, microsecond=0)
        planned.setdefault(key, PlannedReminder(send_at=send_at, offset=offset, moved=moved))
    catch_up = _catch_up(appointment_at, now, policy, missed, [item.send_at for item in planned.values()])
    if catch_up is not None:
        planned.setdefault(catch_up.send_at.replace(second=0, microsecond=0), catch_up)
    return sorted(planned.values(), key=lambda reminder: reminder.send_at)


def _catch_up(appointment_at: datetime, now: datetime, policy: ReminderPolicy, missed: list[timedelta],
              later: list[datetime]) -> PlannedReminder | None:
    """The nearest useful reminder when every offset's time had passed as the appointment was booked (or
    moved), e.g. booked 90 minutes ahead with offsets 24 h and 2 h: now, or the end of the quiet period now
    is in when that still leaves `min_notice`; never in the past, never in quiet hours. None when a planned
    reminder remains (it is the nearest useful one) or the appointment has begun."""
    if not missed or later or appointment_at <= now:
        return None
    send_at = now.astimezone(policy.zone)
    moved = False
    period = quiet_period(send_at, policy)
    if period is not None:
        if period[1] > appointment_at - policy.min_notice:
            return None  # only quiet hours are left before the appointment
        send_at, moved = period[1], True
    return PlannedReminder(send_at=send_at, offset=max(missed), moved=moved)
