"""Rules that used to live in casework's endpoints: a check-in is settled once, an appointment ends after it
starts, only a supervisor overrides the program's minimum duration, nothing new on a closed case. No I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.casework.domain.lifecycle import (
    TERMINAL_STATES,
    Actor,
    CaseClosed,
    CaseState,
    InvalidTransition,
    OverrideNotPermitted,
    allowed_actions,
    check_transition,
    require_open,
    supervisor_override,
)
from services.casework.domain.supervision import (
    AppointmentEndsBeforeStart,
    AppointmentStatus,
    Contact,
    ContactAlreadySettled,
    ContactStatus,
    schedule_appointment,
    settle_contact,
)

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
CHICAGO = timezone(timedelta(hours=-6))


def _contact(**changes: object) -> Contact:
    values: dict[str, object] = {"id": "c1", "case_id": "k1", "agency_id": "a1",
                                 "scheduled_for": NOW - timedelta(days=1), "notes": "bring the form"}
    values.update(changes)
    return Contact.model_validate(values)


def test_a_completed_check_in_is_completed_at_the_given_time_in_utc():
    done = settle_contact(_contact(), ContactStatus.COMPLETED, notes="", completed_at=NOW.astimezone(CHICAGO),
                          now=NOW + timedelta(hours=1))
    assert done.status is ContactStatus.COMPLETED
    assert done.completed_at == NOW and done.completed_at.tzinfo is UTC
    assert done.notes == "bring the form"  # empty notes keep the earlier ones


def test_a_completed_check_in_without_a_time_is_completed_now_and_new_notes_replace_old():
    done = settle_contact(_contact(), ContactStatus.COMPLETED, notes="came in", completed_at=None, now=NOW)
    assert done.completed_at == NOW and done.notes == "came in"


def test_a_missed_check_in_has_no_completion_time():
    missed = settle_contact(_contact(), ContactStatus.MISSED, notes="", completed_at=NOW, now=NOW)
    assert missed.status is ContactStatus.MISSED and missed.completed_at is None


@pytest.mark.parametrize("settled", [ContactStatus.COMPLETED, ContactStatus.MISSED, ContactStatus.CANCELLED])
def test_a_check_in_is_settled_once(settled):
    with pytest.raises(ContactAlreadySettled, match=f"the contact is already {settled.value}"):
        settle_contact(_contact(status=settled), ContactStatus.COMPLETED, notes="", completed_at=None, now=NOW)


def _appointment(starts_at: datetime, ends_at: datetime | None):
    return schedule_appointment(id="ap1", case_id="k1", agency_id="a1", starts_at=starts_at, ends_at=ends_at,
                                kind="court", with_whom="Judge Ruiz")


def test_an_appointment_is_scheduled_in_utc():
    appointment = _appointment(NOW.astimezone(CHICAGO), NOW.astimezone(CHICAGO) + timedelta(hours=1))
    assert appointment.starts_at == NOW and appointment.starts_at.tzinfo is UTC
    assert appointment.ends_at == NOW + timedelta(hours=1) and appointment.ends_at.tzinfo is UTC
    assert appointment.status is AppointmentStatus.SCHEDULED and appointment.kind == "court"


def test_an_appointment_may_leave_its_end_open():
    assert _appointment(NOW, None).ends_at is None


@pytest.mark.parametrize("length", [timedelta(0), timedelta(minutes=-30)])
def test_an_appointment_ends_after_it_starts(length):
    with pytest.raises(AppointmentEndsBeforeStart, match="an appointment ends after it starts"):
        _appointment(NOW, NOW + length)


def test_an_appointment_end_is_compared_as_an_instant_not_as_wall_clock_time():
    # 10:00 in Chicago is 16:00 UTC: after a 15:00 UTC start, though its wall-clock hour is earlier.
    assert _appointment(NOW, datetime(2026, 3, 2, 10, 0, tzinfo=CHICAGO)).ends_at == NOW + timedelta(hours=1)


def test_a_supervisor_overrides_the_minimum_in_their_own_name():
    override = supervisor_override(Actor(subject="sup-1", roles=frozenset({"supervisor"})), "moved out of state")
    assert (override.approved_by, override.role, override.reason) == ("sup-1", "supervisor", "moved out of state")


@pytest.mark.parametrize("roles", [frozenset({"case_manager"}), frozenset({"admin", "auditor"}), frozenset()])
def test_only_a_supervisor_overrides_the_minimum(roles):
    with pytest.raises(OverrideNotPermitted, match="only a supervisor may override"):
        supervisor_override(Actor(subject="cm-1", roles=roles), "moved out of state")


@pytest.mark.parametrize("state", sorted(TERMINAL_STATES))
def test_nothing_new_is_recorded_on_a_closed_case(state):
    with pytest.raises(CaseClosed, match=f"^the case is {state.value}$"):
        require_open(state)
    with pytest.raises(CaseClosed, match=f"^the case is {state.value}; its plan is closed$"):
        require_open(state, what="its plan is closed")


@pytest.mark.parametrize("state", sorted(set(CaseState) - TERMINAL_STATES))
def test_an_open_or_pending_case_takes_new_records(state):
    require_open(state)


def test_the_actions_of_a_case_are_named_as_the_api_names_them():
    assert allowed_actions(CaseState.PENDING_ASSIGNMENT) == ["assign", "withdraw"]
    assert allowed_actions(CaseState.ACTIVE) == ["complete", "extend", "reassign", "terminate", "withdraw"]
    assert allowed_actions(CaseState.COMPLETED) == []


def test_a_refused_transition_carries_what_its_problem_shows():
    with pytest.raises(InvalidTransition) as refused:
        check_transition(CaseState.COMPLETED, CaseState.EXTENDED)
    assert refused.value.problem_extra == {"current_state": "completed", "allowed": []}
