"""Cursor pagination: lists are bounded, ordered by a stable key, and resumed with an opaque cursor."""

from __future__ import annotations

import base64
import json
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field

from shared.http.problems import UnprocessableContent

T = TypeVar("T")
MAX_LIMIT = 200


class PageQuery(BaseModel):
    limit: int = Field(default=50, ge=1, le=MAX_LIMIT)
    cursor: str | None = Field(default=None, max_length=500)


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def encode_cursor(values: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, default=str).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError):
        value = None
    if not isinstance(value, dict):
        raise UnprocessableContent("the cursor is not one this API issued", slug="invalid-cursor",
                                   errors=[{"field": "cursor", "message": "invalid cursor", "type": "cursor"}])
    return value
