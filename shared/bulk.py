"""Bulk writes: many rows of one table in one INSERT statement, inside the caller's transaction.

`write_rows` sends, on PostgreSQL, the rows as one JSON array parameter of one
`INSERT ... SELECT ... FROM json_to_recordset(:rows)`: one statement and one parameter whatever the row count,
which PostgreSQL parses in C, instead of SQLAlchemy's multi-row `VALUES` (a bind parameter per value, each
processed in Python, and a statement of 10,000 literals to parse): the 500-referral batch's five tables took
a third of the time. Values keep their types (the column list of the record gives each column its SQL type; a
Python `None` in a JSON column stays the JSON `null` SQLAlchemy stores). A table with a column type this path
does not know, and SQLite, go through Core's executemany. A JSON column declared `JsonDocument` also takes
`RawJson`, a document already serialized (pydantic's `model_dump_json()`), which is sent as it is instead of
being dumped to a dict and serialized again.

(COPY would be cheaper still, but psycopg2 refuses it under psycogreen's wait callback, which the services run
with.)
"""

from __future__ import annotations

import datetime as dt
import gc
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import JSON, Boolean, Date, DateTime, Enum, Integer, String, Table, insert, text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator

from shared.timestamps import UtcDateTime


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


_paused = 0


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a bulk request runs (nestable; greenlets share the count).

    A 500-referral batch allocates some 100,000 container objects that live until the response; each time they
    are promoted the collector walks the whole heap (the service's modules included), which cost a third of the
    batch's CPU time. Reference counting still frees everything; the collector runs again afterwards.
    """
    global _paused
    if _paused == 0 and not gc.isenabled():
        yield  # someone else (a test, a profiler) turned it off: leave it as it is
        return
    _paused += 1
    if _paused == 1:
        gc.disable()
    try:
        yield
    finally:
        _paused -= 1
        if _paused == 0:
            gc.enable()


def write_rows(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert `rows` (every row with the same keys) into `table` with one INSERT statement."""
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        statement = _json_insert(table, tuple(rows[0]), connection.dialect)
        if statement is not None:
            raw_keys = [k for k in rows[0] if isinstance(table.c[k].type, JsonDocument)]
            connection.execute(statement, {"rows": _json_rows(rows, raw_keys)})
            return
    connection.execute(insert(table), list(rows))


_STATEMENTS: dict[tuple[Table, tuple[str, ...]], Any] = {}


def _carried(column_type: Any) -> bool:
    """A column type the JSON path carries exactly (an Enum is a String that converts its values: not here)."""
    if isinstance(column_type, (UtcDateTime, JsonDocument)):
        return True
    if isinstance(column_type, (TypeDecorator, Enum)):
        return False
    if isinstance(column_type, DateTime):
        return False  # a plain DateTime's naive values: left to the driver
    return isinstance(column_type, (String, Integer, Boolean, Date, JSON))


def _json_insert(table: Table, keys: tuple[str, ...], dialect: Dialect) -> Any:
    """`INSERT INTO t (a, b) SELECT r.a, r.b FROM json_to_recordset(:rows) AS r(a type, b type)`, or None."""
    cache_key = (table, keys)
    if cache_key in _STATEMENTS:
        return _STATEMENTS[cache_key]
    statement = None
    columns = [table.c[k] for k in keys if k in table.c]
    if len(columns) == len(keys) and all(_carried(c.type) for c in columns):
        quote = dialect.identifier_preparer.quote
        record = ", ".join(f"{quote(c.name)} {_record_type(c.type, dialect)}" for c in columns)
        values = ", ".join(
            # A None in a JSON column is the JSON null on the Core path (JSON.none_as_null is False): kept so.
            f"COALESCE(r.{quote(c.name)}, 'null'::json)" if isinstance(c.type, (JSON, JsonDocument))
            else f"r.{quote(c.name)}"
            for c in columns
        )
        statement = text(
            f"INSERT INTO {dialect.identifier_preparer.format_table(table)} "
            f"({', '.join(quote(c.name) for c in columns)}) "
            f"SELECT {values} FROM json_to_recordset(CAST(:rows AS json)) AS r({record})"
        )
    _STATEMENTS[cache_key] = statement
    return statement


def _record_type(column_type: Any, dialect: Dialect) -> str:
    if isinstance(column_type, (JSON, JsonDocument)):
        return "json"
    if isinstance(column_type, UtcDateTime):
        return "timestamp with time zone"
    return str(column_type.compile(dialect=dialect))


def _encode(value: Any) -> Any:
    # Only dates and datetimes reach here (json encodes the rest); a datetime column is UtcDateTime: naive is UTC.
    if isinstance(value, dt.datetime):
        return (value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} cannot be sent as JSON")


_dumps = json.JSONEncoder(default=_encode).encode  # SQLAlchemy's JSON serializer's output (json.dumps)


def _json_rows(rows: Sequence[dict[str, Any]], raw_keys: Sequence[str] = ()) -> str:
    """The rows as one JSON array; a RawJson value (in a `raw_keys` column) goes in as the document it is."""
    if not raw_keys:
        return _dumps(list(rows))
    parts = []
    for row in rows:
        raws = [f"{_dumps(k)}: {row[k]}" for k in raw_keys if isinstance(row[k], RawJson)]
        if not raws:
            parts.append(_dumps(row))
            continue
        plain = {k: v for k, v in row.items() if not isinstance(v, RawJson)}
        head = _dumps(plain)
        parts.append(head[:-1] + (", " if plain else "") + ", ".join(raws) + "}")
    return "[" + ", ".join(parts) + "]"
