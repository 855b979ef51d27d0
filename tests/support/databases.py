"""A fresh PostgreSQL database of one service, migrated to head, for a test; dropped afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from sqlalchemy import MetaData, create_engine, func, select
from sqlalchemy.engine import Engine

from shared import migrations
from tests.conftest import create_database, drop_database


@contextmanager
def migrated(service: str, label: str = "db") -> Iterator[Engine]:
    name = f"diversion_test_{label}_{service}_{uuid.uuid4().hex[:6]}"
    url = create_database(name)
    migrations.upgrade(service, url)
    engine = create_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()
        drop_database(name)


def row_counts(engine: Engine, metadata: MetaData, tables: Iterable[str]) -> dict[str, int]:
    """Rows per table, for "before and after" assertions."""
    with engine.connect() as conn:
        return {name: int(conn.execute(select(func.count()).select_from(metadata.tables[name])).scalar() or 0)
                for name in tables}
