"""Referral validation: good referrals pass, bad ones fail naming the field."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from intake_builders import charge, referral_data
from pydantic import ValidationError

from services.intake.domain.referral import Referral, add_years, age_on


def error_locations(data: dict[str, Any]) -> list[tuple[str | int, ...]]:
    with pytest.raises(ValidationError) as info:
        Referral.model_validate(data)
    return [tuple(err["loc"]) for err in info.value.errors()]


def test_the_documented_example_referral_is_valid() -> None:
    referral = Referral.model_validate(
        referral_data(
            convictions=[{"date": "2019-02-01", "offense_class": "misdemeanor_a", "violent": False}],
            diversions=[{"date": "2018-05-01", "outcome": "completed"}],
        )
    )
    assert referral.offense_date == date(2026, 10, 1)
    assert referral.history.convictions[0].offense_class.is_misdemeanor


def test_misdemeanor_only_referral_is_valid_input() -> None:
    referral = Referral.model_validate(referral_data(charges=[charge("570.030", "misdemeanor_a")]))
    assert not referral.charges[0].offense_class.is_felony


def test_names_are_stripped_and_a_blank_name_is_refused() -> None:
    referral = Referral.model_validate(referral_data(first_name="  Dana  "))
    assert referral.defendant.first_name == "Dana"
    assert ("defendant", "last_name") in error_locations(referral_data(last_name="   "))


def test_date_of_birth_in_the_future_is_refused() -> None:
    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    assert ("defendant", "date_of_birth") in error_locations(referral_data(dob=tomorrow))


def test_offense_before_birth_is_refused_naming_the_charge() -> None:
    data = referral_data(dob="2003-04-05", charges=[charge(), charge(offense_date="2001-01-01")])
    assert error_locations(data) == [("charges", 1, "offense_date")]


def test_conviction_before_birth_is_refused_naming_it() -> None:
    data = referral_data(convictions=[{"date": "1999-01-01", "offense_class": "felony_c"}])
    assert error_locations(data) == [("history", "convictions", 0, "date")]


def test_offense_in_the_future_is_refused() -> None:
    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    assert error_locations(referral_data(charges=[charge(offense_date=tomorrow)])) == [("charges", 0, "offense_date")]


def test_unknown_offense_class_is_refused() -> None:
    assert error_locations(referral_data(charges=[charge(offense_class="felony_z")])) == [
        ("charges", 0, "offense_class")
    ]


def test_a_referral_without_charges_is_refused() -> None:
    assert error_locations(referral_data(charges=[])) == [("charges",)]


def test_unknown_fields_are_refused() -> None:
    data = referral_data()
    data["defendant"]["ssn"] = "123-45-6789"
    assert error_locations(data) == [("defendant", "ssn")]


def test_strings_and_lists_are_bounded() -> None:
    assert ("defendant", "first_name") in error_locations(referral_data(first_name="x" * 101))
    assert error_locations(referral_data(charges=[charge()] * 51)) == [("charges",)]
    too_many = [{"date": "2020-01-01", "offense_class": "infraction"}] * 201
    assert error_locations(referral_data(convictions=too_many)) == [("history", "convictions")]


def test_unknown_source_and_language_are_refused() -> None:
    data = referral_data(preferred_language="fr")
    data["source"] = "neighbour"
    assert set(error_locations(data)) == {("source",), ("defendant", "preferred_language")}


def test_offense_date_is_the_earliest_charge() -> None:
    referral = Referral.model_validate(
        referral_data(charges=[charge(offense_date="2026-10-01"), charge(offense_date="2026-09-15")])
    )
    assert referral.offense_date == date(2026, 9, 15)


def test_leap_day_birthdays_count_from_the_first_of_march() -> None:
    born = date(2004, 2, 29)
    assert age_on(born, date(2022, 2, 28)) == 17
    assert age_on(born, date(2022, 3, 1)) == 18
    assert add_years(born, 1) == date(2005, 3, 1)
