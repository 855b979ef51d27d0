"""Timestamps come back aware and in UTC on SQLite too (the embedded default stores them as text)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Column, Integer, MetaData, Table, create_engine, insert, select

from shared.timestamps import UtcDateTime

CHICAGO = ZoneInfo("America/Chicago")


def table_on_sqlite():
    engine = create_engine("sqlite://")
    metadata = MetaData()
    table = Table("t", metadata, Column("id", Integer, primary_key=True), Column("at", UtcDateTime()))
    metadata.create_all(engine)
    return engine, table


def test_an_aware_local_time_is_stored_as_the_same_instant_and_read_back_in_utc():
    engine, table = table_on_sqlite()
    evening_in_st_louis = datetime(2026, 11, 27, 21, 30, tzinfo=CHICAGO)
    with engine.begin() as connection:
        connection.execute(insert(table).values(id=1, at=evening_in_st_louis))
        stored = connection.execute(select(table.c.at)).scalar_one()
    assert stored.tzinfo is not None and stored.utcoffset().total_seconds() == 0
    assert stored == evening_in_st_louis  # the same instant (03:30 UTC the next day)
    assert stored.isoformat() == "2026-11-28T03:30:00+00:00"


def test_a_naive_time_is_taken_as_utc_and_none_stays_none():
    engine, table = table_on_sqlite()
    with engine.begin() as connection:
        connection.execute(insert(table), [{"id": 1, "at": datetime(2026, 1, 2, 3, 4)}, {"id": 2, "at": None}])
        rows = connection.execute(select(table.c.at).order_by(table.c.id)).scalars().all()
    assert rows == [datetime(2026, 1, 2, 3, 4, tzinfo=UTC), None]
