"""The pool pings a connection only after it sat idle (shared/db.py): a lost idle connection is replaced
unseen; one used a moment ago is not pinged, and its loss invalidates the pool for the next checkout."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg2
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from shared import db
from tests.conftest import PG_ADMIN_DSN


@pytest.fixture
def engine() -> Iterator[Engine]:
    engine = db.make_engine(PG_ADMIN_DSN.replace("postgresql://", "postgresql+psycopg2://"), pool_size=2)
    yield engine
    engine.dispose()


def backend_pid(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


def terminate(pid: int) -> None:
    connection = psycopg2.connect(PG_ADMIN_DSN)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", (pid,))
    finally:
        connection.close()


def test_an_idle_connection_that_was_lost_is_replaced_without_an_error(engine: Engine, monkeypatch: Any) -> None:
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)
    first = backend_pid(engine)
    terminate(first)  # the server side of the pooled connection is gone while it idles
    assert backend_pid(engine) != first  # the ping failed, the pool took a fresh connection: no error


def test_a_connection_used_a_moment_ago_is_not_pinged(engine: Engine, monkeypatch: Any) -> None:
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 3600.0)
    first = backend_pid(engine)
    terminate(first)
    # No ping: the lost connection is handed out and its statement fails, marked as a disconnect (which the
    # consumers read as "database down" and hold their events) ...
    with pytest.raises(DBAPIError) as failed:
        backend_pid(engine)
    assert failed.value.connection_invalidated
    # ... and the pool was recycled: the next checkout works.
    assert backend_pid(engine) != first
