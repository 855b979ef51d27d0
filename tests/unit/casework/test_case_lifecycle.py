"""Case lifecycle: the full transition table, duration bounds, month arithmetic and published events."""

from __future__ import annotations

from datetime import date

import pytest

from services.casework.domain.lifecycle import (
    TRANSITIONS,
    Actor,
    Case,
    CaseEventName,
    CaseState,
    Disposition,
    DurationExceeded,
    InvalidTransition,
    Outcome,
    OverrideRequired,
    ProgramTerms,
    ReasonRequired,
    SupervisorOverride,
    add_months,
    assign,
    check_transition,
    complete,
    extend,
    open_case,
    terminate,
    withdraw,
)

PROGRAM = ProgramTerms(program_id="young-adult", min_months=6, max_months=18)
START = date(2025, 1, 15)
CLERK = Actor(subject="cm-1", roles=frozenset({"case_manager"}))


def case_in(state: CaseState) -> Case:
    """A case already in `state`, with the dates a case in that state would have."""
    base = Case(
        id="case-1",
        agency_id="stl-cao",
        referral_id="ref-1",
        participant_id="p-1",
        program_id="young-adult",
        opened_on=date(2025, 1, 10),
        referred_on=date(2025, 1, 2),
    )
    if state is CaseState.PENDING_ASSIGNMENT:
        return base
    dated = base.model_copy(
        update={
            "state": state,
            "case_manager_id": "cm-1",
            "start_date": START,
            "expected_end_date": date(2025, 9, 15) if state is CaseState.EXTENDED else date(2025, 7, 15),
        }
    )
    if state in (CaseState.COMPLETED, CaseState.TERMINATED, CaseState.WITHDRAWN):
        dated = dated.model_copy(update={"closed_on": date(2025, 8, 1)})
    return dated


def attempt(case: Case, target: CaseState) -> Outcome:
    """Drive the command that moves a case to `target`, with arguments that are otherwise valid."""
    late = date(2025, 8, 1)  # past the 6-month minimum
    if target is CaseState.ACTIVE:
        return assign(case, case_manager_id="cm-2", program=PROGRAM, on=START)
    if target is CaseState.EXTENDED:
        return extend(case, program=PROGRAM, on=late, months=1, reason="housing search")
    if target is CaseState.COMPLETED:
        return complete(case, disposition=Disposition.DISMISSAL, program=PROGRAM, on=late)
    if target is CaseState.TERMINATED:
        return terminate(case, reason="new violent charge", on=late)
    if target is CaseState.WITHDRAWN:
        return withdraw(case, reason="referral recalled", on=late)
    raise AssertionError(f"no command moves a case to {target}")


ALL_PAIRS = [(s, t) for s in CaseState for t in CaseState]
LEGAL = [(s, t) for s, t in ALL_PAIRS if t in TRANSITIONS[s]]
ILLEGAL = [(s, t) for s, t in ALL_PAIRS if t not in TRANSITIONS[s]]
# Assigning someone new to an open case is a reassignment (state kept), not a move to `active`.
REASSIGNMENT = {(CaseState.ACTIVE, CaseState.ACTIVE), (CaseState.EXTENDED, CaseState.ACTIVE)}
COMMAND_ILLEGAL = [
    (s, t) for s, t in ILLEGAL if t is not CaseState.PENDING_ASSIGNMENT and (s, t) not in REASSIGNMENT
]


def test_transition_table_is_the_documented_one() -> None:
    assert {s: set(t) for s, t in TRANSITIONS.items()} == {
        CaseState.PENDING_ASSIGNMENT: {CaseState.ACTIVE, CaseState.WITHDRAWN},
        CaseState.ACTIVE: {
            CaseState.EXTENDED,
            CaseState.COMPLETED,
            CaseState.TERMINATED,
            CaseState.WITHDRAWN,
        },
        CaseState.EXTENDED: {
            CaseState.EXTENDED,
            CaseState.COMPLETED,
            CaseState.TERMINATED,
            CaseState.WITHDRAWN,
        },
        CaseState.COMPLETED: set(),
        CaseState.TERMINATED: set(),
        CaseState.WITHDRAWN: set(),
    }
    assert len(LEGAL) == 10 and len(ILLEGAL) == 26


@pytest.mark.parametrize(("current", "target"), LEGAL, ids=[f"{s}->{t}" for s, t in LEGAL])
def test_legal_transition_moves_the_case(current: CaseState, target: CaseState) -> None:
    check_transition(current, target)
    outcome = attempt(case_in(current), target)
    assert outcome.case.state is target
    assert outcome.case.version == case_in(current).version + 1
    assert len(outcome.events) == 1


@pytest.mark.parametrize(("current", "target"), ILLEGAL, ids=[f"{s}->{t}" for s, t in ILLEGAL])
def test_illegal_transition_is_refused_naming_the_allowed_ones(current: CaseState, target: CaseState) -> None:
    with pytest.raises(InvalidTransition) as caught:
        check_transition(current, target)
    error = caught.value
    assert error.current is current and error.attempted is target
    assert error.allowed == list(TRANSITIONS[current])
    for allowed in TRANSITIONS[current]:
        assert allowed.value in str(error)
    if not TRANSITIONS[current]:
        assert "none (terminal state)" in str(error)


@pytest.mark.parametrize(
    ("current", "target"), COMMAND_ILLEGAL, ids=[f"{s}->{t}" for s, t in COMMAND_ILLEGAL]
)
def test_command_for_an_illegal_transition_raises_and_changes_nothing(
    current: CaseState, target: CaseState
) -> None:
    case = case_in(current)
    with pytest.raises(InvalidTransition) as caught:
        attempt(case, target)
    assert caught.value.allowed == list(TRANSITIONS[current])
    assert case.state is current


@pytest.mark.parametrize("state", [CaseState.ACTIVE, CaseState.EXTENDED])
def test_assigning_an_open_case_reassigns_without_changing_state_or_dates(state: CaseState) -> None:
    case = case_in(state)
    outcome = assign(case, case_manager_id="cm-2", program=PROGRAM, on=date(2025, 3, 1), reason="leave")
    assert outcome.case.state is state
    assert outcome.case.case_manager_id == "cm-2"
    assert outcome.case.start_date == case.start_date
    assert outcome.case.expected_end_date == case.expected_end_date
    [event] = outcome.events
    assert event.name is CaseEventName.ASSIGNED
    assert event.data["previous_case_manager_id"] == "cm-1" and event.data["reason"] == "leave"


def test_reassigning_to_the_same_manager_publishes_nothing() -> None:
    case = case_in(CaseState.ACTIVE)
    outcome = assign(case, case_manager_id="cm-1", program=PROGRAM, on=date(2025, 3, 1))
    assert outcome.events == [] and outcome.case == case


def test_opening_a_case_waits_for_assignment_and_publishes_case_opened() -> None:
    outcome = open_case(
        case_id="c-9",
        agency_id="stl-cao",
        referral_id="r-9",
        participant_id="p-9",
        program=PROGRAM,
        opened_on=date(2025, 2, 1),
        referred_on=date(2025, 1, 20),
        actor=CLERK,
    )
    assert outcome.case.state is CaseState.PENDING_ASSIGNMENT
    [event] = outcome.events
    assert (event.name, event.case_id, event.agency_id, event.actor) == (
        CaseEventName.OPENED,
        "c-9",
        "stl-cao",
        "cm-1",
    )
    assert event.data["referral_id"] == "r-9"


def test_first_assignment_starts_supervision_with_expected_end_from_program() -> None:
    outcome = assign(
        case_in(CaseState.PENDING_ASSIGNMENT), case_manager_id="cm-7", program=PROGRAM, on=date(2025, 8, 31)
    )
    assert outcome.case.start_date == date(2025, 8, 31)
    assert outcome.case.expected_end_date == date(2026, 2, 28)  # 6 months, clamped to February's end
    assert outcome.events[0].data["expected_end_date"] == "2026-02-28"


def test_program_standard_length_sets_expected_end() -> None:
    twelve = ProgramTerms(program_id="x", min_months=6, max_months=18, standard_months=12)
    assert twelve.expected_end(date(2025, 1, 31)) == date(2026, 1, 31)


def test_program_bounds_must_be_in_order() -> None:
    with pytest.raises(ValueError):
        ProgramTerms(program_id="x", min_months=12, max_months=6)
    with pytest.raises(ValueError):
        ProgramTerms(program_id="x", min_months=6, max_months=18, standard_months=24)


# ---------------------------------------------------------------- duration bounds


def test_completion_before_minimum_needs_override() -> None:
    with pytest.raises(OverrideRequired) as caught:
        complete(
            case_in(CaseState.ACTIVE),
            disposition=Disposition.DISMISSAL,
            program=PROGRAM,
            on=date(2025, 7, 14),
        )
    assert caught.value.earliest_completion == date(2025, 7, 15)
    assert "2025-07-15" in str(caught.value)


def test_completion_on_the_minimum_date_needs_no_override() -> None:
    outcome = complete(
        case_in(CaseState.ACTIVE),
        disposition=Disposition.ONE_DAY_PROBATION,
        program=PROGRAM,
        on=date(2025, 7, 15),
    )
    assert outcome.case.disposition is Disposition.ONE_DAY_PROBATION
    assert outcome.case.override is None
    assert outcome.events[0].data["days_in_program"] == 181


def test_supervisor_override_allows_early_completion_and_is_published() -> None:
    override = SupervisorOverride(approved_by="sup-1", role="supervisor", reason="all conditions met early")
    outcome = complete(
        case_in(CaseState.ACTIVE),
        disposition=Disposition.DISMISSAL,
        program=PROGRAM,
        on=date(2025, 5, 1),
        override=override,
    )
    assert outcome.case.state is CaseState.COMPLETED and outcome.case.override == override
    [event] = outcome.events
    assert event.name is CaseEventName.COMPLETED
    assert event.data["disposition"] == "dismissal"
    assert event.data["early_completion_override"]["approved_by"] == "sup-1"


@pytest.mark.parametrize(
    "override",
    [
        SupervisorOverride(approved_by="cm-1", role="case_manager", reason="looks good"),
        SupervisorOverride(approved_by="sup-1", role="supervisor", reason="   "),
    ],
    ids=["not-a-supervisor", "no-reason"],
)
def test_early_completion_override_needs_supervisor_role_and_reason(override: SupervisorOverride) -> None:
    with pytest.raises(OverrideRequired):
        complete(
            case_in(CaseState.ACTIVE),
            disposition=Disposition.DISMISSAL,
            program=PROGRAM,
            on=date(2025, 5, 1),
            override=override,
        )


def test_extension_up_to_the_maximum_is_allowed_and_repeatable() -> None:
    first = extend(
        case_in(CaseState.ACTIVE), program=PROGRAM, on=date(2025, 7, 1), months=6, reason="treatment"
    )
    assert first.case.state is CaseState.EXTENDED and first.case.expected_end_date == date(2026, 1, 15)
    second = extend(first.case, program=PROGRAM, on=date(2026, 1, 1), until=date(2026, 7, 15), reason="job")
    assert second.case.expected_end_date == date(2026, 7, 15)  # exactly start + 18 months
    assert second.case.extensions == 2
    [event] = second.events
    assert event.name is CaseEventName.PLAN_UPDATED
    assert event.data["change"] == "extended" and event.data["expected_end_date"] == "2026-07-15"


def test_extension_past_the_maximum_is_refused() -> None:
    with pytest.raises(DurationExceeded) as caught:
        extend(
            case_in(CaseState.EXTENDED), program=PROGRAM, on=date(2025, 9, 1), months=11, reason="more time"
        )
    assert caught.value.latest_end == date(2026, 7, 15)
    assert caught.value.requested_end == date(2026, 8, 15)


def test_extension_needs_a_reason_and_a_later_end() -> None:
    with pytest.raises(ReasonRequired):
        extend(case_in(CaseState.ACTIVE), program=PROGRAM, on=date(2025, 7, 1), months=1, reason=" ")
    with pytest.raises(ValueError):
        extend(
            case_in(CaseState.ACTIVE),
            program=PROGRAM,
            on=date(2025, 7, 1),
            until=date(2025, 7, 1),
            reason="x",
        )


def test_termination_returns_case_to_prosecution_with_reason() -> None:
    outcome = terminate(case_in(CaseState.EXTENDED), reason="new felony arrest", on=date(2025, 6, 1))
    assert outcome.case.termination_reason == "new felony arrest"
    [event] = outcome.events
    assert event.name is CaseEventName.TERMINATED
    assert event.data["outcome"] == "returned_to_prosecution" and event.data["reason"] == "new felony arrest"
    with pytest.raises(ReasonRequired):
        terminate(case_in(CaseState.ACTIVE), reason="", on=date(2025, 6, 1))


def test_withdrawal_before_assignment_publishes_case_withdrawn() -> None:
    outcome = withdraw(case_in(CaseState.PENDING_ASSIGNMENT), reason="charges refused", on=date(2025, 1, 12))
    assert outcome.case.state is CaseState.WITHDRAWN and outcome.case.closed_on == date(2025, 1, 12)
    assert outcome.events[0].name is CaseEventName.WITHDRAWN
    assert outcome.events[0].data["previous_state"] == "pending_assignment"


# ---------------------------------------------------------------- month arithmetic


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2025, 1, 31), 1, date(2025, 2, 28)),
        (date(2024, 1, 31), 1, date(2024, 2, 29)),
        (date(2025, 3, 31), 1, date(2025, 4, 30)),
        (date(2025, 8, 31), 6, date(2026, 2, 28)),
        (date(2025, 12, 15), 1, date(2026, 1, 15)),
        (date(2025, 1, 31), 18, date(2026, 7, 31)),
        (date(2025, 3, 31), -1, date(2025, 2, 28)),
        (date(2025, 5, 20), 0, date(2025, 5, 20)),
    ],
)
def test_month_arithmetic_clamps_to_month_end(start: date, months: int, expected: date) -> None:
    assert add_months(start, months) == expected
