"""shared.bulk: one multi-row INSERT keeps every value as it went in, and a RawJson document is stored as the JSON
it already is (not as a JSON string of it), on PostgreSQL and on SQLite."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import JSON, Boolean, Column, Date, DateTime, Integer, MetaData, String, Table, Text, select
from sqlalchemy.orm import Session

from shared.bulk import JsonDocument, RawJson, write_rows
from shared.db import make_engine
from shared.timestamps import UtcDateTime
from tests.conftest import create_database, drop_database

METADATA = MetaData()
THINGS = Table("things", METADATA, Column("id", Integer, primary_key=True, autoincrement=True),
               Column("name", String(100)), Column("note", Text, nullable=True), Column("flag", Boolean),
               Column("day", Date, nullable=True), Column("at", DateTime(timezone=True)),
               Column("doc", JSON, nullable=True), Column("raw", JsonDocument(), nullable=True))

ROWS = [
    {"name": "tab\there", "note": "line\nbreak and \\ backslash\r", "flag": True, "day": dt.date(2026, 3, 1),
     "at": dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.UTC), "doc": {"a": [1, "x\ty"], "é": None},
     "raw": RawJson('{"already": "serialized", "n": 2}')},
    {"name": "", "note": None, "flag": False, "day": None, "at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
     "doc": None, "raw": None},
    {"name": r"\N is not null", "note": "", "flag": False, "day": None,
     "at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC), "doc": [], "raw": RawJson("[]")},
]


def _round_trip(url: str) -> list[dict[str, object]]:
    engine = make_engine(url)
    try:
        METADATA.create_all(engine)
        with Session(engine) as session:
            write_rows(session, THINGS, ROWS)
            session.commit()
            return [dict(row._mapping) for row in session.execute(select(THINGS).order_by(THINGS.c.id))]
    finally:
        engine.dispose()


def _expected() -> list[dict[str, object]]:
    out = []
    for n, row in enumerate(ROWS, start=1):
        import json

        raw = row["raw"]
        out.append({**row, "id": n, "raw": json.loads(raw) if raw is not None else None})  # type: ignore[arg-type]
    return out


def test_multi_row_insert_on_postgresql_keeps_every_value():
    name = f"diversion_test_bulk_{uuid.uuid4().hex[:8]}"
    url = create_database(name)
    try:
        assert _round_trip(url) == _expected()
    finally:
        drop_database(name)


def test_the_same_rows_on_sqlite(tmp_path):
    rows = _round_trip(f"sqlite:///{tmp_path / 'bulk.db'}")
    assert [r["name"] for r in rows] == [r["name"] for r in ROWS]
    assert rows[0]["raw"] == {"already": "serialized", "n": 2} and rows[1]["note"] is None


STAMPED = Table("stamped", METADATA, Column("id", Integer, primary_key=True, autoincrement=True),
                Column("name", String(100)), Column("note", Text, nullable=True),
                Column("flag", Boolean, nullable=True),
                Column("day", Date, nullable=True), Column("at", UtcDateTime()),
                Column("doc", JSON, nullable=True), Column("raw", JsonDocument(), nullable=True))


def test_the_json_path_on_postgresql_stores_what_core_stores():
    """Every column type of the intake tables takes write_rows' one-statement JSON path on PostgreSQL: the values
    (a naive datetime taken as UTC, a None in a JSON column as the JSON null) are what Core's executemany stores."""
    from sqlalchemy import insert, text

    from shared import bulk

    name = f"diversion_test_bulk_{uuid.uuid4().hex[:8]}"
    url = create_database(name)
    engine = make_engine(url)
    rows = [{**row, "at": row["at"].replace(tzinfo=None) if n else row["at"]} for n, row in enumerate(ROWS)]
    rows[2]["flag"] = None
    rows[0]["name"] = "Zoë \U0001f600 李 \" \\"  # beyond the BMP (a surrogate pair once escaped), quote, backslash
    try:
        METADATA.create_all(engine)
        with Session(engine) as session:
            assert bulk._json_insert(STAMPED, tuple(rows[0]), session.connection().dialect) is not None
            write_rows(session, STAMPED, rows)
            session.connection().execute(insert(STAMPED), [dict(r) for r in rows])  # Core, for comparison
            session.commit()
            stored = session.execute(text("SELECT name, note, flag, day, at, doc::text, doc IS NULL, raw::text, "
                                          "raw IS NULL FROM stamped ORDER BY id")).all()
            fast, core = stored[:3], stored[3:]
            assert [tuple(r) for r in fast] == [tuple(r) for r in core]
            assert fast[1][5] == "null" and fast[1][6] is False  # the JSON null, as Core stores it
            assert fast[0][7] == '{"already": "serialized", "n": 2}'
            new_year = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
            assert [r[4] for r in fast] == [dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.UTC), new_year, new_year]
    finally:
        engine.dispose()
        drop_database(name)
