"""Phone numbers to E.164 (+15551234567); numbers without a country code are North American (+1).

Deliberately small instead of a full numbering-plan library: NANP numbers are checked for valid
area code and exchange; other countries only for E.164 length.
"""

from __future__ import annotations

import re

_SEPARATORS = re.compile(r"[\s().\-/]")


class InvalidPhoneNumber(ValueError):
    """The text is not a phone number we can send an SMS to."""


def _check_nanp(national: str, original: str) -> None:
    # Area code and exchange both start with 2-9 (N11 service codes such as 911 are not numbers).
    if len(national) != 10 or national[0] in "01" or national[3] in "01":
        raise InvalidPhoneNumber(f"{original!r} is not a valid North American number")
    if national[1:3] == "11" or national[4:6] == "11":
        raise InvalidPhoneNumber(f"{original!r} uses an N11 service code, not a phone number")


def normalize_phone(raw: str, default_country_code: str = "1") -> str:
    """E.164 form of `raw`; raises InvalidPhoneNumber with the reason."""
    text = _SEPARATORS.sub("", raw.strip())
    if text.startswith("+"):
        digits = text[1:]
    elif text.startswith("011") and default_country_code == "1":
        digits = text[3:]  # the North American international dialling prefix
    elif text.startswith("00"):
        digits = text[2:]
    else:
        digits = None
    if digits is not None:
        if not digits.isdigit() or digits[0] == "0" or not 8 <= len(digits) <= 15:
            raise InvalidPhoneNumber(f"{raw!r} is not an E.164 number (+ and 8 to 15 digits)")
        if digits[0] == "1":
            _check_nanp(digits[1:], raw)
        return "+" + digits
    if not text.isdigit():
        raise InvalidPhoneNumber(f"{raw!r} contains characters that are not digits")
    if default_country_code != "1":
        national = text.lstrip("0")
        if not 4 <= len(default_country_code + national) <= 15:
            raise InvalidPhoneNumber(f"{raw!r} has the wrong number of digits")
        return f"+{default_country_code}{national}"
    if len(text) == 11 and text.startswith("1"):
        text = text[1:]
    _check_nanp(text, raw)
    return "+1" + text
