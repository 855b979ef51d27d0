"""Participant search keys: names folded so "jose" finds "José Álvarez" on PostgreSQL and SQLite alike.

The key is computed here, in Python (NFKD, combining marks dropped, casefolded, white space collapsed), and
stored in `participant.search_key`, so no database extension (unaccent) is needed and both engines agree.
"""

from __future__ import annotations

import unicodedata

SEARCH_KEY_LENGTH = 210


def fold(text: str) -> str:
    """`text` without accents, casefolded, its white space collapsed to single spaces."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(unicodedata.normalize("NFKC", bare).split())


def search_key(first_name: str, last_name: str) -> str:
    """What a participant's name is matched on: folded "first last"."""
    return fold(f"{first_name} {last_name}")[:SEARCH_KEY_LENGTH]


def escape_like(text: str, escape: str = "\\") -> str:
    """`text` as a literal inside a LIKE pattern (its %, _ and the escape character escaped)."""
    return text.replace(escape, escape * 2).replace("%", escape + "%").replace("_", escape + "_")


def name_patterns(query: str) -> tuple[str, str] | None:
    """LIKE patterns for a name prefix: the start of the key, or the start of any later word of it.

    None when the query folds to nothing (only accents or spaces): nothing to match on.
    """
    folded = fold(query)
    if not folded:
        return None
    literal = escape_like(folded)
    return f"{literal}%", f"% {literal}%"


def matches(key: str, query: str) -> bool:
    """The same rule in Python (the unit tests' oracle for the SQL patterns)."""
    folded = fold(query)
    return bool(folded) and (key.startswith(folded) or f" {folded}" in f" {key}")
