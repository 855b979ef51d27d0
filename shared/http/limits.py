"""What the HTTP edge accepts at all, before any model sees it: bounded JSON, text without control characters.

PostgreSQL refuses NUL in text (and lone UTF-16 surrogates cannot be encoded at all), SQLite stores
them, and a terminal or a CSV export shown to staff interprets the other C0 controls: so every string
of every input (JSON keys and values, query parameters, path segments) is checked once, here, and a
bad one answers 422 naming the field. Tab, line feed and carriage return are text and pass.
"""

from __future__ import annotations

import json
import re
from typing import Any

from shared.http.problems import BadRequest, UnprocessableContent

MAX_JSON_DEPTH = 32  # the suite's deepest document (an HSDS organization) nests about 6 levels
MAX_JSON_ITEMS = 100_000  # values in one document; the body size bounds it too
MAX_JSON_INTEGER = 2**53 - 1  # integers every JSON reader holds exactly (RFC 8259 section 6)
BAD_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def parse_json(raw: bytes) -> Any:
    """The document in `raw`, or a 400 that says what is wrong with it (never a RecursionError)."""
    try:
        document = json.loads(raw or b"null", parse_constant=_no_constant)
    except RecursionError:
        raise BadRequest(f"the body nests deeper than {MAX_JSON_DEPTH} levels") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}") from None
    _check_shape(document)
    return document


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _check_shape(document: Any) -> None:
    stack: list[tuple[Any, int]] = [(document, 0)]
    seen = 0
    while stack:
        value, depth = stack.pop()
        seen += 1
        if seen > MAX_JSON_ITEMS:
            raise BadRequest(f"the body holds more than {MAX_JSON_ITEMS} values")
        if isinstance(value, (dict, list)):
            if depth >= MAX_JSON_DEPTH:
                raise BadRequest(f"the body nests deeper than {MAX_JSON_DEPTH} levels")
            children = value.values() if isinstance(value, dict) else value
            stack.extend((child, depth + 1) for child in children)
        elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_JSON_INTEGER:
            raise UnprocessableContent("the body holds an integer beyond 2^53", slug="number-out-of-range")


def bad_text_errors(document: Any, prefix: str = "") -> list[dict[str, str]]:
    """Field errors for every string (key or value) holding a control character or a lone surrogate."""
    errors: list[dict[str, str]] = []
    stack: list[tuple[Any, str]] = [(document, prefix)]
    while stack and len(errors) < 20:
        value, path = stack.pop()
        if isinstance(value, str):
            if BAD_TEXT.search(value):
                errors.append(_error(path))
        elif isinstance(value, dict):
            for key, child in value.items():
                child_path = f"{path}.{key}" if path else str(key)
                if isinstance(key, str) and BAD_TEXT.search(key):
                    errors.append(_error(path or "(body)", "a key holds a control character"))
                    continue
                stack.append((child, child_path))
        elif isinstance(value, list):
            stack.extend((child, f"{path}.{index}" if path else str(index)) for index, child in enumerate(value))
    return sorted(errors, key=lambda error: error["field"])


def _error(field: str, message: str = "control characters (NUL, C0, DEL) and lone surrogates are not allowed") \
        -> dict[str, str]:
    return {"field": field or "(body)", "message": message, "type": "control_character"}


# Bytes without which a JSON body cannot hold a bad string: an escape (\\u0000, \\b), DEL, the UTF-8 lead byte
# of a surrogate (json.loads decodes bytes with surrogatepass), NUL (a UTF-16 or UTF-32 body). Raw C0 controls
# inside a string are not JSON at all (json.loads refuses them).
_MAYBE_BAD_TEXT = re.compile(rb"[\\\x00\x7f\xed]")


def may_hold_bad_text(raw: bytes) -> bool:
    """False when the JSON body `raw` certainly holds no bad string, so the walk over it can be skipped."""
    return _MAYBE_BAD_TEXT.search(raw) is not None


def refuse_bad_text(document: Any, where: str, prefix: str = "") -> None:
    errors = bad_text_errors(document, prefix)
    if errors:
        raise UnprocessableContent(f"the {where} holds characters that are not text",
                                   slug="invalid-characters", errors=errors)
