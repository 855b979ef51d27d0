"""Service referral statuses (FHIR Task) and search inputs, as plain rules."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from services.resources.domain.referrals import (
    REASON_CODES,
    Actor,
    InvalidTransition,
    ReasonCodeRequired,
    Status,
    check_transition,
    disclosed_categories,
)
from services.resources.domain.search import Circle, WeeklySchedule, fts5_query, local_moment, weekly_hours

LEGAL = {
    (Status.REQUESTED, Status.RECEIVED, Actor.PARTNER), (Status.REQUESTED, Status.ACCEPTED, Actor.PARTNER),
    (Status.REQUESTED, Status.REJECTED, Actor.PARTNER), (Status.REQUESTED, Status.CANCELLED, Actor.AGENCY),
    (Status.RECEIVED, Status.ACCEPTED, Actor.PARTNER), (Status.RECEIVED, Status.REJECTED, Actor.PARTNER),
    (Status.RECEIVED, Status.CANCELLED, Actor.AGENCY),
    (Status.ACCEPTED, Status.IN_PROGRESS, Actor.PARTNER), (Status.ACCEPTED, Status.FAILED, Actor.PARTNER),
    (Status.ACCEPTED, Status.CANCELLED, Actor.AGENCY),
    (Status.IN_PROGRESS, Status.COMPLETED, Actor.PARTNER), (Status.IN_PROGRESS, Status.FAILED, Actor.PARTNER),
    (Status.IN_PROGRESS, Status.CANCELLED, Actor.AGENCY),
}


def reason(status: Status) -> str | None:
    return sorted(REASON_CODES[status])[0] if status in REASON_CODES else None


@pytest.mark.parametrize(("current", "target", "actor"), sorted(LEGAL))
def test_every_legal_transition_is_allowed_to_its_actor(current, target, actor):
    assert check_transition(current, target.value, actor, reason(target)) is target


@pytest.mark.parametrize(
    ("current", "target", "actor"),
    [combo for combo in itertools.product(Status, Status, Actor) if combo not in LEGAL],
)
def test_every_other_transition_is_refused_naming_what_is_allowed(current, target, actor):
    with pytest.raises(InvalidTransition) as refused:
        check_transition(current, target.value, actor, reason(target))
    allowed = refused.value.problem_extra["allowed"]
    assert allowed == sorted(t.value for c, t, a in LEGAL if c is current and a is actor)


@pytest.mark.parametrize("status", [Status.REJECTED, Status.CANCELLED, Status.FAILED])
def test_ending_without_completion_needs_a_reason_code_of_its_own(status):
    actor = Actor.AGENCY if status is Status.CANCELLED else Actor.PARTNER
    current = Status.ACCEPTED if status is Status.FAILED else Status.REQUESTED
    with pytest.raises(ReasonCodeRequired):
        check_transition(current, status.value, actor, None)
    with pytest.raises(ReasonCodeRequired):
        check_transition(current, status.value, actor, "made_up")


def test_contact_information_is_always_part_of_what_the_consent_must_cover():
    assert disclosed_categories(["needs_assessment"]) == ["contact_info", "needs_assessment"]


def test_weekly_hours_split_overnight_and_skip_what_is_not_weekly():
    spans = weekly_hours([
        WeeklySchedule("WEEKLY", "MO,FR", dt.time(9), dt.time(17)),
        WeeklySchedule("WEEKLY", "SU", dt.time(22), dt.time(6)),
        WeeklySchedule("MONTHLY", "1MO", dt.time(9), dt.time(12)),
        WeeklySchedule(None, "TU", None, None),
    ])
    assert [(s.weekday, s.opens_minute, s.closes_minute) for s in spans] == [
        (0, 0, 360), (0, 540, 1020), (4, 540, 1020), (6, 1320, 1440)]


def test_open_now_uses_the_directory_time_zone():
    assert local_moment(dt.datetime(2026, 3, 2, 18, 30, tzinfo=dt.UTC), "America/Chicago") == (0, 12 * 60 + 30)


def test_distance_circle_measures_kilometres_and_bounds_the_box():
    circle = Circle(38.627, -90.199, 5)
    south, north, west, east = circle.box
    assert south < 38.627 < north and west < -90.199 < east
    assert circle.km(circle.radius_squared_degrees) == pytest.approx(5)


def test_free_text_cannot_inject_fts5_operators():
    assert fts5_query('housing" OR *') == '"housing" "OR"'
    assert fts5_query("()*") is None
