"""Duplicate keys: the same person or case written differently by two systems yields one key."""

from __future__ import annotations

from datetime import date

from services.intake.domain.duplicates import case_key, person_key


def test_same_person_with_accents_case_and_punctuation_has_one_key() -> None:
    assert person_key("José", "O'Neil-Smith", date(2003, 4, 5)) == person_key(" JOSE ", "oneil  smith", "2003-04-05")


def test_different_birth_dates_or_names_are_different_people() -> None:
    assert person_key("Dana", "Brooks", "2003-04-05") != person_key("Dana", "Brooks", "2003-04-06")
    assert person_key("Jon", "Brooks", "2003-04-05") != person_key("John", "Brooks", "2003-04-05")


def test_first_and_last_names_are_not_interchangeable() -> None:
    assert person_key("Lee", "Morgan", "2000-01-01") != person_key("Morgan", "Lee", "2000-01-01")


def test_non_latin_names_keep_their_letters() -> None:
    assert person_key("李", "王", "2000-01-01") != person_key("张", "王", "2000-01-01")
    assert person_key("Zoë", "Øster", "2000-01-01") == person_key("zoe", "oster", "2000-01-01")


def test_case_numbers_compare_without_case_or_separators() -> None:
    assert case_key("2611-CR00123") == case_key(" 2611 cr-00123 ") == "2611CR00123"
    assert case_key("2611-CR00123") != case_key("2611-CR00124")
