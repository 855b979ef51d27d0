"""`UtcDateTime`: a timestamp column that always comes back timezone-aware, in UTC, on every database.

PostgreSQL's `timestamptz` returns aware values, but SQLite (the embedded default) stores text and returns
naive ones, and silently drops the offset of an aware value on the way in. Every timestamp column uses this
type so an API never shows a time without its offset, and a Chicago wall-clock time is never stored as UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        # A naive value is taken as UTC (everything in the suite computes in UTC).
        moment: datetime = value
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment: datetime = value
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
