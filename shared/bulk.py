"""Bulk writes: many rows of one table in one multi-row INSERT, inside the caller's transaction.

`write_rows` goes through Core (no ORM bookkeeping per row); with psycopg2, SQLAlchemy sends an executemany of
an INSERT as multi-row `VALUES` pages. A JSON column declared `JsonDocument` also takes `RawJson`, a document
already serialized (pydantic's `model_dump_json()`), which is sent as it is instead of being dumped to a dict
and serialized again.

(COPY would be cheaper still, but psycopg2 refuses it under psycogreen's wait callback, which the services run
with.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import JSON, Table, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator


class RawJson(str):
    """A JSON document already serialized (its text is stored as it is)."""


class JsonDocument(TypeDecorator[Any]):
    """JSON, also accepting `RawJson` text as it is."""

    impl = JSON
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> Any:
        dump = self.impl_instance.bind_processor(dialect)

        def process(value: Any) -> Any:
            if isinstance(value, RawJson):
                return str(value)
            return dump(value) if dump is not None else value

        return process


def write_rows(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert `rows` (every row with the same keys) into `table` with one multi-row INSERT."""
    if rows:
        session.connection().execute(insert(table), list(rows))
