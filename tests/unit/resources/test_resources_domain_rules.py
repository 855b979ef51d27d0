"""Rules that lived in the entrypoints: who takes referrals, who acts as the agency, consents, assurance."""

from __future__ import annotations

import datetime as dt

import pytest

from services.resources.domain.listings import assurance, days_since_assured
from services.resources.domain.referrals import (
    Actor,
    ServiceNotAccepting,
    actor_of,
    check_accepting,
    read_consent_answer,
    sla_hours,
)


@pytest.mark.parametrize("capacity", ["accepting", "waitlist"])
def test_an_active_service_that_is_not_closed_takes_referrals(capacity: str) -> None:
    check_accepting("active", capacity)


@pytest.mark.parametrize(("status", "capacity", "said"), [
    ("inactive", "accepting", "the service is inactive and takes no referrals"),
    ("defunct", "closed", "the service is defunct and takes no referrals"),
    ("temporarily closed", "waitlist", "the service is temporarily closed and takes no referrals"),
    ("active", "closed", "the service is closed and takes no referrals"),
])
def test_a_service_that_is_not_active_or_is_closed_takes_no_referrals(status: str, capacity: str, said: str) -> None:
    with pytest.raises(ServiceNotAccepting) as raised:
        check_accepting(status, capacity)
    assert str(raised.value) == said


@pytest.mark.parametrize(("roles", "actor"), [
    ({"case_manager"}, Actor.AGENCY), ({"supervisor"}, Actor.AGENCY), ({"admin"}, Actor.AGENCY),
    ({"partner", "admin"}, Actor.AGENCY), ({"partner"}, Actor.PARTNER), (set(), Actor.PARTNER),
])
def test_the_agencys_staff_act_as_the_agency_everyone_else_as_the_partner(roles: set[str], actor: Actor) -> None:
    assert actor_of(roles) is actor


def test_a_consent_covers_only_when_casework_says_so_and_names_it() -> None:
    covered = read_consent_answer({"covered": True, "consent_id": 7, "notice": "42 CFR Part 2"})
    assert covered.covered and covered.consent_id == "7" and covered.notice == "42 CFR Part 2"
    assert read_consent_answer({"covered": True, "consent_id": "c-1"}).notice == ""

    assert read_consent_answer({"covered": True}).covered is False
    refused = read_consent_answer({"covered": False, "consent_id": "c-1", "reason": "expired"})
    assert not refused.covered and refused.reason == "expired"
    assert read_consent_answer(None) == read_consent_answer(["covered"])
    assert read_consent_answer("yes").reason == "invalid answer"


def test_a_service_without_its_own_sla_gets_the_default() -> None:
    assert sla_hours(None, 48.0) == 48.0
    assert sla_hours(0.0, 48.0) == 0.0
    assert sla_hours(12.5, 48.0) == 12.5


def test_confirming_a_listing_stamps_today_and_keeps_the_last_assurer_unless_another_is_named() -> None:
    today = dt.date(2030, 3, 4)
    assert assurance(True, None, "old@org.example", today) == {"assured_date": today,
                                                              "assurer_email": "old@org.example"}
    assert assurance(True, "new@org.example", "old@org.example", today) == {"assured_date": today,
                                                                           "assurer_email": "new@org.example"}
    assert assurance(None, "new@org.example", "old@org.example", today) == {"assurer_email": "new@org.example"}
    assert assurance(False, None, "old@org.example", today) == {}


def test_days_since_assured_is_none_for_a_listing_never_confirmed() -> None:
    today = dt.date(2030, 3, 4)
    assert days_since_assured(None, today) is None
    assert days_since_assured(dt.date(2030, 3, 1), today) == 3
