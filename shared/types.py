"""Field types whose rules the HTTP edge enforces and the OpenAPI documents state, so the two agree.

A date is a calendar day written `YYYY-MM-DD` and a moment an RFC 3339 date-time: pydantic on its own also
takes a number (or a string of digits) as seconds since 1970, so `"from": 0` was read as 1 January 1970.
`TEXT_PATTERN` is the edge's control-character rule (shared/http/limits.py) as a JSON-Schema pattern; the
document generator (shared/http/openapi.py) puts it on every free-text string.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from email_validator import SPECIAL_USE_DOMAIN_NAMES
from pydantic import AwareDatetime, BeforeValidator, EmailStr, TypeAdapter, WithJsonSchema

# What `limits.BAD_TEXT` refuses, less the lone surrogates (a JSON-Schema string is code points, and an
# ECMA-262 pattern without the `u` flag would read an emoji's surrogate pair as two bad characters).
TEXT_PATTERN = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]*$"
# The same, with at least one character that is not white space (for fields stripped before they count).
_SPACE = r"\t\n\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"  # str.isspace(), less controls
NONBLANK_TEXT_PATTERN = (r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]*"
                         rf"[^{_SPACE}\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]"
                         r"[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]*$")

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})?$")


_DATE: TypeAdapter[dt.date] = TypeAdapter(dt.date)
_DATETIME: TypeAdapter[dt.datetime] = TypeAdapter(dt.datetime)


def _day_only(value: Any) -> Any:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and _ISO_DATE.match(value):
        return _DATE.validate_python(value)  # parsed here, so a strict body (shared/http/api.py) takes it
    raise ValueError("a date is written YYYY-MM-DD")


def _moment_only(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and _ISO_DATETIME.match(value):
        return _DATETIME.validate_python(value)
    raise ValueError("a date-time is written as RFC 3339, e.g. 2026-01-31T09:30:00Z")


IsoDate = Annotated[dt.date, BeforeValidator(_day_only)]
IsoDateTime = Annotated[dt.datetime, BeforeValidator(_moment_only)]
IsoAwareDatetime = Annotated[AwareDatetime, BeforeValidator(_moment_only)]

# An address pydantic's email check takes: not under a special-use domain (RFC 6761: .test, .local, ...),
# which it refuses and a plain `format: email` does not rule out; and a domain with a dot and a top-level
# label that ends with a letter (as every top-level domain does).
_SPECIAL_USE = "|".join("".join(f"[{c}{c.upper()}]" if c.isalpha() else c for c in name)
                        for name in sorted(SPECIAL_USE_DOMAIN_NAMES))
EMAIL_SCHEMA = {"type": "string", "format": "email",
                "pattern": rf"^[^@]+@(?!(?:[^@]*\.)?(?:{_SPECIAL_USE})\.?$)"
                           r"[^@]*[^@.]\.[^@.]*[A-Za-z]$"}
Email = Annotated[EmailStr, WithJsonSchema(EMAIL_SCHEMA)]

__all__ = ["EMAIL_SCHEMA", "NONBLANK_TEXT_PATTERN", "TEXT_PATTERN", "Email", "IsoAwareDatetime", "IsoDate",
           "IsoDateTime"]
