"""Case-manager assignment: strategies, caps, ties, the entry-point loader and assignment history."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from importlib.metadata import EntryPoint

import pytest

from services.casework.domain import assignment as assignment_module
from services.casework.domain.assignment import (
    AssignmentRecord,
    CaseloadFull,
    CaseManager,
    LeastCaseload,
    ProgramNotServed,
    RoundRobin,
    StaffLoad,
    UnknownStrategy,
    auto_assign,
    current_manager,
    get_strategy,
    load_strategies,
    manual_assign,
    staff_loads,
)
from services.casework.domain.lifecycle import Actor, Case, CaseState, ProgramTerms

PROGRAM = ProgramTerms(program_id="young-adult")
T0 = datetime(2025, 3, 1, 9, 0)
SUPERVISOR = Actor(subject="sup-1", roles=frozenset({"supervisor"}))


def pending_case(case_id: str = "case-1", program_id: str = "young-adult") -> Case:
    return Case(
        id=case_id,
        agency_id="stl-cao",
        referral_id="r-1",
        participant_id="p-1",
        program_id=program_id,
        opened_on=date(2025, 3, 1),
    )


def load(
    staff_id: str,
    caseload: int,
    cap: int = 10,
    last: datetime | None = None,
    programs: frozenset[str] = frozenset({"young-adult"}),
) -> StaffLoad:
    return StaffLoad(id=staff_id, programs=programs, caseload=caseload, cap=cap, last_assigned_at=last)


def test_least_caseload_picks_the_manager_with_fewest_cases() -> None:
    candidates = [load("a", 7), load("b", 3), load("c", 5)]
    assert LeastCaseload().choose(candidates, pending_case()) == "b"


def test_least_caseload_skips_full_and_other_program_staff() -> None:
    candidates = [
        load("full", 2, cap=2),
        load("other-program", 0, programs=frozenset({"second-chance"})),
        load("room", 9, cap=10),
    ]
    assert LeastCaseload().choose(candidates, pending_case()) == "room"


@pytest.mark.parametrize("strategy", [LeastCaseload(), RoundRobin()], ids=["least_caseload", "round_robin"])
def test_nobody_with_room_leaves_the_case_pending(strategy: LeastCaseload | RoundRobin) -> None:
    candidates = [load("a", 10, cap=10), load("b", 4, cap=4)]
    assert strategy.choose(candidates, pending_case()) is None
    result = auto_assign(pending_case(), candidates=candidates, strategy=strategy, program=PROGRAM, at=T0)
    assert not result.assigned and result.record is None


def test_least_caseload_ties_break_by_utilization_then_longest_wait_then_id() -> None:
    case = pending_case()
    # Same count; the bigger cap is less utilized.
    assert LeastCaseload().choose([load("a", 4, cap=5), load("b", 4, cap=20)], case) == "b"
    # Same count and cap: never assigned goes first, then the longest since last assignment.
    tied = [load("a", 4, last=T0), load("b", 4, last=T0 - timedelta(days=2)), load("c", 4)]
    assert LeastCaseload().choose(tied, case) == "c"
    assert LeastCaseload().choose(tied[:2], case) == "b"
    # Everything equal: staff id, whatever the input order.
    assert LeastCaseload().choose([load("z", 1), load("m", 1)], case) == "m"
    assert LeastCaseload().choose([load("m", 1), load("z", 1)], case) == "m"


def test_round_robin_takes_turns_and_skips_whoever_is_full() -> None:
    staff = {"a": load("a", 0), "b": load("b", 0), "c": load("c", 0, cap=1)}
    order = []
    for i in range(5):
        chosen = RoundRobin().choose(list(staff.values()), pending_case(f"case-{i}"))
        assert chosen is not None
        order.append(chosen)
        s = staff[chosen]
        staff[chosen] = s.model_copy(
            update={"caseload": s.caseload + 1, "last_assigned_at": T0 + timedelta(minutes=i)}
        )
    assert order == ["a", "b", "c", "a", "b"]  # c reached its cap of 1 after its turn


def test_inactive_staff_are_not_candidates() -> None:
    managers = [
        CaseManager(
            id="a", agency_id="stl-cao", name="Ann", programs=frozenset({"young-adult"}), active=False
        ),
        CaseManager(
            id="b", agency_id="stl-cao", name="Bo", programs=frozenset({"young-adult"}), caseload_cap=3
        ),
    ]
    loads = staff_loads(managers, {"a": 0, "b": 2}, {"b": T0})
    assert [(c.id, c.caseload, c.cap, c.last_assigned_at) for c in loads] == [("b", 2, 3, T0)]


def test_auto_assign_activates_case_and_records_the_strategy() -> None:
    result = auto_assign(
        pending_case(),
        candidates=[load("a", 1), load("b", 0)],
        strategy=LeastCaseload(),
        program=PROGRAM,
        at=T0,
    )
    assert result.outcome is not None and result.record is not None
    assert result.outcome.case.state is CaseState.ACTIVE and result.outcome.case.case_manager_id == "b"
    assert (result.record.case_manager_id, result.record.strategy, result.record.assigned_by) == (
        "b",
        "least_caseload",
        None,
    )


def test_manual_assignment_refuses_full_caseload_unless_supervisor_allows() -> None:
    full = load("a", 10, cap=10)
    with pytest.raises(CaseloadFull):
        manual_assign(pending_case(), staff=full, program=PROGRAM, at=T0, actor=SUPERVISOR)
    result = manual_assign(
        pending_case(),
        staff=full,
        program=PROGRAM,
        at=T0,
        actor=SUPERVISOR,
        allow_over_cap=True,
        reason="continuity with prior case",
    )
    assert result.outcome is not None and result.outcome.case.case_manager_id == "a"


def test_manual_assignment_refuses_staff_outside_the_program() -> None:
    with pytest.raises(ProgramNotServed):
        manual_assign(
            pending_case(),
            staff=load("a", 0, programs=frozenset({"other"})),
            program=PROGRAM,
            at=T0,
            actor=SUPERVISOR,
        )


def test_reassignment_history_names_previous_and_current_manager() -> None:
    first = manual_assign(pending_case(), staff=load("a", 0), program=PROGRAM, at=T0, actor=SUPERVISOR)
    assert first.outcome is not None and first.record is not None
    second = manual_assign(
        first.outcome.case,
        staff=load("b", 0),
        program=PROGRAM,
        at=T0 + timedelta(days=30),
        actor=SUPERVISOR,
        reason="a on leave",
    )
    assert second.record is not None and second.outcome is not None
    assert (second.record.previous_case_manager_id, second.record.case_manager_id) == ("a", "b")
    assert second.outcome.case.state is CaseState.ACTIVE
    history: list[AssignmentRecord] = [second.record, first.record]
    assert current_manager(history) == "b"
    assert current_manager([]) is None


def test_built_in_strategies_load_from_entry_points() -> None:
    strategies = load_strategies()
    assert isinstance(strategies["least_caseload"], LeastCaseload)
    assert isinstance(strategies["round_robin"], RoundRobin)
    assert isinstance(get_strategy("round_robin"), RoundRobin)


def test_unknown_strategy_names_the_installed_ones() -> None:
    with pytest.raises(UnknownStrategy, match="least_caseload, round_robin"):
        get_strategy("by_zip_code")


def test_broken_plugin_falls_back_to_built_in_and_extra_plugins_load(monkeypatch: pytest.MonkeyPatch) -> None:
    group = "diversion.assignment"
    fake = [
        EntryPoint(name="least_caseload", value="no_such_module.anywhere:Strategy", group=group),
        EntryPoint(name="newest_first", value="services.casework.domain.assignment:RoundRobin", group=group),
    ]
    monkeypatch.setattr(assignment_module, "entry_points", lambda group: fake)
    strategies = load_strategies()
    assert isinstance(strategies["least_caseload"], LeastCaseload)  # the built-in filled the gap
    assert isinstance(strategies["newest_first"], RoundRobin)
    assert isinstance(strategies["round_robin"], RoundRobin)
