"""Phone numbers normalized to E.164 (North American default) and validated."""

from __future__ import annotations

import pytest

from services.notifications.domain.phone import InvalidPhoneNumber, normalize_phone


@pytest.mark.parametrize(
    "raw",
    ["(314) 555-0142", "314-555-0142", "314.555.0142", "3145550142", "1 314 555 0142", "+1 314 555 0142"],
)
def test_us_numbers_in_common_formats_become_e164(raw: str) -> None:
    assert normalize_phone(raw) == "+13145550142"


def test_international_number_with_plus_is_kept() -> None:
    assert normalize_phone("+52 55 1234 5678") == "+525512345678"
    assert normalize_phone("011 52 55 1234 5678") == "+525512345678"


@pytest.mark.parametrize(
    "raw",
    [
        "555-0142",
        "(014) 555-0142",
        "314-155-0142",
        "911",
        "314-555-014x",
        "+0123456789",
        "+1234",
        "call me",
        "",
    ],
)
def test_invalid_numbers_are_refused_with_a_reason(raw: str) -> None:
    with pytest.raises(InvalidPhoneNumber):
        normalize_phone(raw)


def test_n11_area_code_is_not_a_phone_number() -> None:
    with pytest.raises(InvalidPhoneNumber, match="N11"):
        normalize_phone("(411) 555-0142")


def test_other_default_country_code_prefixes_national_numbers() -> None:
    assert normalize_phone("055 1234 5678", default_country_code="52") == "+525512345678"
