"""Keys that spot a referral already received: the same person (name and birth date) or the same case.

Normalization forgives what differs between agency systems (case, accents, punctuation, spacing), not
spelling: "José O'Neil-Smith" and "jose oneil smith" match, "Jon" and "John" do not.
"""

from __future__ import annotations

import unicodedata
from datetime import date

# Letters that Unicode does not decompose into a base letter plus an accent.
_FOLD = str.maketrans({"ø": "o", "đ": "d", "ł": "l", "æ": "ae", "œ": "oe", "þ": "th", "ð": "d", "ı": "i"})


def normalize_name(value: str) -> str:
    """Casefolded letters and digits: accents dropped, punctuation and whitespace removed.

    Letters of other scripts are kept (not dropped), so two different non-Latin names never share a key.
    """
    decomposed = unicodedata.normalize("NFKD", value.casefold().translate(_FOLD))
    return "".join(ch for ch in decomposed if ch.isalnum() and not unicodedata.combining(ch))


def person_key(first_name: str, last_name: str, date_of_birth: date | str) -> str:
    """`last|first|YYYY-MM-DD`; the same person referred twice yields the same key."""
    born = date_of_birth if isinstance(date_of_birth, date) else date.fromisoformat(date_of_birth.strip())
    return f"{normalize_name(last_name)}|{normalize_name(first_name)}|{born.isoformat()}"


def case_key(case_number: str) -> str:
    """Case numbers compare without case, spaces or separators: "2611-cr 00123" is "2611CR00123"."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", case_number).upper() if ch.isascii() and ch.isalnum())
