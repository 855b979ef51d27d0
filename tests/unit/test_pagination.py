"""Signed keyset cursors: every row once across pages, in any mix of directions; any other cursor refused."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, insert, select

from shared.auth import Identity
from shared.http.api import Call
from shared.http.pagination import CURSOR_TTL, InvalidCursor, PageQuery, Pager, derive_cursor_key
from shared.timestamps import UtcDateTime

KEY = derive_cursor_key("unit-test-secret")
metadata = MetaData()
rows = Table("row", metadata, Column("id", String, primary_key=True), Column("group", Integer),
             Column("at", UtcDateTime()))


class Query(PageQuery):
    group: int | None = None


def call(cursor: str | None = None, limit: int = 3, agency: str = "stl-cao", key: bytes = KEY,
         route: str = "GET /v1/rows", **filters: Any) -> Call:
    identity = Identity(sub="u", agency=agency, roles=frozenset({"auditor"}))
    return Call(identity=identity, path={}, query=Query(limit=limit, cursor=cursor, **filters), route=route,
                cursor_key=key)


@pytest.fixture
def engine() -> Any:
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    base = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    with engine.begin() as connection:
        connection.execute(insert(rows), [
            {"id": f"r{i:02d}", "group": i % 3, "at": base + dt.timedelta(hours=i // 2)} for i in range(20)])
    return engine


def walk(engine: Any, *order: Any, limit: int = 3) -> list[str]:
    seen: list[str] = []
    cursor = None
    with engine.connect() as connection:
        for _ in range(50):
            pager = Pager(call(cursor, limit), *order)
            page, cursor = pager.page(connection.execute(pager.apply(select(rows))).mappings().all(),
                                      key=lambda row: tuple(row[c.name] for c in (rows.c.group, rows.c.at, rows.c.id)))
            seen += [row["id"] for row in page]
            if cursor is None:
                return seen
    raise AssertionError("no last page")


@pytest.mark.parametrize("order", [
    (rows.c.group, rows.c.at, rows.c.id),
    (rows.c.group.desc(), rows.c.at, rows.c.id.desc()),
    (rows.c.group, rows.c.at.desc(), rows.c.id),
])
def test_every_row_comes_once_in_the_declared_order(engine, order):
    with engine.connect() as connection:
        expected = [r.id for r in connection.execute(select(rows).order_by(*order))]
    assert walk(engine, *order) == expected and len(expected) == 20


def first_cursor(engine: Any, **kwargs: Any) -> str:
    pager = Pager(call(**kwargs), rows.c.id)
    with engine.connect() as connection:
        _, cursor = pager.page(connection.execute(pager.apply(select(rows))).all(), key=lambda row: (row.id,))
    assert cursor is not None
    return cursor


def test_a_cursor_is_refused_elsewhere_tampered_or_stale(engine, monkeypatch):
    cursor = first_cursor(engine)
    Pager(call(cursor), rows.c.id)  # accepted where it was issued
    payload, _, signature = cursor.partition(".")
    for other in (
        call(cursor, agency="other-agency"), call(cursor, route="GET /v1/others"), call(cursor, group=1),
        call(cursor, key=derive_cursor_key("another secret")), call(payload[:-2] + "AA." + signature),
        call(payload + "." + signature[::-1]), call(cursor + "x"), call("x" * 600), call("no-dot"),
        call(".."), call("a.b"),
    ):
        with pytest.raises(InvalidCursor):
            Pager(other, rows.c.id)
    with pytest.raises(InvalidCursor):
        Pager(call(cursor), rows.c.id, rows.c.group)  # another key shape
    later = time.time() + CURSOR_TTL.total_seconds() + 5
    monkeypatch.setattr(time, "time", lambda: later)
    with pytest.raises(InvalidCursor, match="stale"):
        Pager(call(cursor), rows.c.id)
