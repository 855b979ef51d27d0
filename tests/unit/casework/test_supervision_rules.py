"""Conditions, graduated responses and the timer rules with their dedup keys."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from pydantic import ValidationError

from services.casework.domain.lifecycle import CaseState
from services.casework.domain.supervision import (
    CaseClock,
    Condition,
    ConditionKind,
    ConditionProgressError,
    Contact,
    ContactStatus,
    Incident,
    IncidentKind,
    MakeWholeUnit,
    Response,
    TimerKind,
    mark_condition_met,
    no_contact_cases,
    overdue_checkins,
    program_end_approaching,
    record_progress,
    suggest_response,
)

NOW = datetime(2025, 5, 10, 12, 0)
GRACE = timedelta(hours=24)


def restitution(required: str = "500") -> Condition:
    return Condition(
        id="cond-1",
        case_id="case-1",
        kind=ConditionKind.MAKE_WHOLE,
        description="Restitution",
        unit=MakeWholeUnit.DOLLARS,
        required_amount=Decimal(required),
    )


def test_restitution_progress_reports_percent_and_is_met_when_paid() -> None:
    paid = record_progress(restitution(), Decimal("125"), on=date(2025, 3, 1))
    assert (paid.percent_complete, paid.remaining, paid.met) == (Decimal(25), Decimal(375), False)
    full = record_progress(paid, Decimal("400"), on=date(2025, 4, 1))
    assert (full.percent_complete, full.remaining, full.met, full.met_on) == (
        Decimal(100),
        Decimal(0),
        True,
        date(2025, 4, 1),
    )


def test_community_service_hours_round_to_whole_percent() -> None:
    hours = Condition(
        id="c",
        case_id="case-1",
        kind=ConditionKind.MAKE_WHOLE,
        description="Service",
        unit=MakeWholeUnit.HOURS,
        required_amount=Decimal(40),
    )
    assert record_progress(hours, Decimal("13"), on=date(2025, 3, 1)).percent_complete == Decimal(32)


def test_make_whole_condition_needs_amount_and_others_have_none() -> None:
    with pytest.raises(ValidationError):
        Condition(id="c", case_id="x", kind=ConditionKind.MAKE_WHOLE, description="Restitution")
    with pytest.raises(ValidationError):
        Condition(
            id="c", case_id="x", kind=ConditionKind.GENERAL, description="x", required_amount=Decimal(1)
        )
    general = Condition(id="c", case_id="x", kind=ConditionKind.THERAPEUTIC, description="Assessment")
    assert general.percent_complete is None
    with pytest.raises(ConditionProgressError):
        record_progress(general, Decimal(1), on=date(2025, 1, 1))
    assert mark_condition_met(general, on=date(2025, 2, 1)).met
    with pytest.raises(ConditionProgressError):
        record_progress(restitution(), Decimal(0), on=date(2025, 1, 1))
    with pytest.raises(ConditionProgressError):
        mark_condition_met(restitution(), on=date(2025, 1, 1))


def incident(response: Response) -> Incident:
    return Incident(
        id="i",
        case_id="case-1",
        agency_id="stl-cao",
        kind=IncidentKind.MISSED_CHECKIN,
        occurred_on=date(2025, 3, 1),
        description="",
        response=response,
        responded_by="cm-1",
    )


def test_graduated_response_climbs_the_ladder() -> None:
    assert suggest_response(IncidentKind.MISSED_CHECKIN, []) is Response.WARNING
    assert (
        suggest_response(IncidentKind.NON_COMPLIANCE, [incident(Response.WARNING)])
        is Response.INCREASED_CONTACT
    )
    assert suggest_response(IncidentKind.NEW_ARREST, []) is Response.SUPERVISOR_REVIEW
    top = [incident(Response.TERMINATION_RECOMMENDED)]
    assert suggest_response(IncidentKind.MISSED_CHECKIN, top) is Response.TERMINATION_RECOMMENDED


def checkin(contact_id: str, at: datetime, status: ContactStatus = ContactStatus.SCHEDULED) -> Contact:
    return Contact(id=contact_id, case_id="case-1", agency_id="stl-cao", scheduled_for=at, status=status)


def test_checkin_is_overdue_only_after_the_grace_period() -> None:
    contacts = [
        checkin("late", NOW - timedelta(hours=25)),
        checkin("in-grace", NOW - timedelta(hours=23)),
        checkin("done", NOW - timedelta(days=3), ContactStatus.COMPLETED),
        checkin("missed", NOW - timedelta(days=3), ContactStatus.MISSED),  # already an incident
    ]
    [hit] = overdue_checkins(contacts, now=NOW, grace=GRACE)
    assert hit.kind is TimerKind.CHECKIN_OVERDUE
    assert hit.dedup_key == "checkin_overdue:case-1:late:2025-05-09"


def test_overdue_checkin_key_is_stable_across_sweeps_and_new_when_rescheduled() -> None:
    contact = checkin("c-1", datetime(2025, 5, 1, 10, 0))
    first = overdue_checkins([contact], now=NOW, grace=GRACE)
    later = overdue_checkins([contact], now=NOW + timedelta(hours=6), grace=GRACE)
    assert [h.dedup_key for h in first] == [h.dedup_key for h in later]
    moved = contact.model_copy(update={"scheduled_for": datetime(2025, 5, 8, 10, 0)})
    assert overdue_checkins([moved], now=NOW, grace=GRACE)[0].dedup_key != first[0].dedup_key


def clock(
    case_id: str = "case-1",
    state: CaseState = CaseState.ACTIVE,
    last: datetime | None = None,
    end: date | None = date(2025, 7, 1),
) -> CaseClock:
    return CaseClock(
        case_id=case_id,
        agency_id="stl-cao",
        state=state,
        case_manager_id="cm-1",
        start_date=date(2025, 1, 1),
        expected_end_date=end,
        last_contact_at=last,
    )


def test_case_without_contact_for_n_days_is_flagged_once_per_silence() -> None:
    quiet = clock(last=datetime(2025, 4, 1, 15, 0))
    [hit] = no_contact_cases([quiet], now=NOW, days=30)
    assert hit.dedup_key == "no_contact:case-1:2025-04-01"
    assert hit.detail["days_without_contact"] == 39
    assert no_contact_cases([quiet], now=NOW + timedelta(days=3), days=30)[0].dedup_key == hit.dedup_key
    assert no_contact_cases([clock(last=datetime(2025, 4, 20))], now=NOW, days=30) == []


def test_never_contacted_case_counts_from_its_start_and_closed_cases_are_ignored() -> None:
    [hit] = no_contact_cases([clock(), clock("closed", CaseState.COMPLETED)], now=NOW, days=30)
    assert hit.dedup_key == "no_contact:case-1:2025-01-01"


def test_program_end_approaching_and_extension_gives_a_new_key() -> None:
    near = clock(end=date(2025, 5, 30))
    far = clock("case-2", end=date(2025, 8, 1))
    [hit] = program_end_approaching(
        [near, far, clock("gone", CaseState.TERMINATED, end=date(2025, 5, 20))], now=NOW, within_days=30
    )
    assert (hit.case_id, hit.dedup_key, hit.detail["days_left"]) == (
        "case-1",
        "program_end_approaching:case-1:2025-05-30",
        20,
    )
    extended = near.model_copy(update={"state": CaseState.EXTENDED, "expected_end_date": date(2025, 6, 5)})
    assert program_end_approaching([extended], now=NOW, within_days=30)[0].dedup_key == (
        "program_end_approaching:case-1:2025-06-05"
    )
