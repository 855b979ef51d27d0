"""`record()` writes a transaction's events as one multi-row INSERT at commit, in order, and drops the
events of a transaction or savepoint that rolls back or is closed uncommitted."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, event, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from shared.messaging import new_event
from shared.messaging.catalog import CaseOpened
from shared.messaging.outbox import record, write_recorded
from shared.messaging.tables import TABLES, add_messaging_tables

metadata = MetaData()
add_messaging_tables(metadata)
note = Table("note", metadata, Column("id", Integer, primary_key=True), Column("text", String(20)))


@pytest.fixture
def engine(tmp_path) -> Iterator[Engine]:  # type: ignore[no-untyped-def]
    engine = create_engine(f"sqlite:///{tmp_path}/outbox.db")  # a file: other connections see only commits
    metadata.create_all(engine)
    yield engine
    engine.dispose()


def case_opened(n: int):  # type: ignore[no-untyped-def]
    data = CaseOpened(case_id=f"case-{n}", referral_id=f"ref-{n}", program="young-adult", opened_at=datetime.now(UTC))
    return new_event(data, subject=f"case-{n}", tenantid="stl-cao")


def subjects(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return list(connection.scalars(select(TABLES.outbox.c.subject).order_by(TABLES.outbox.c.id)))


def test_fifty_events_of_one_transaction_are_written_by_one_insert_in_the_order_recorded(engine) -> None:  # type: ignore[no-untyped-def]
    inserts: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def count(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if statement.startswith("INSERT INTO outbox"):
            inserts.append(statement)

    with Session(engine) as session:
        for n in range(50):
            record(session, case_opened(n))
        assert subjects(engine) == []  # nothing is written before the commit
        session.commit()
    assert subjects(engine) == [f"case-{n}" for n in range(50)]
    assert len(inserts) == 1


def test_a_rolled_back_or_closed_transaction_publishes_nothing_and_the_next_one_only_its_own(engine) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        record(session, case_opened(1))
        session.rollback()
        record(session, case_opened(2))
        session.close()
        record(session, case_opened(3))
        session.commit()
    assert subjects(engine) == ["case-3"]


def test_a_savepoint_that_rolls_back_drops_only_the_events_recorded_inside_it(engine) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        record(session, case_opened(1))
        savepoint = session.begin_nested()
        record(session, case_opened(2))
        savepoint.rollback()
        with session.begin_nested():
            record(session, case_opened(3))
        session.commit()
    assert subjects(engine) == ["case-1", "case-3"]


def test_state_and_events_commit_together_and_a_reader_may_write_them_early(engine) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        session.execute(note.insert().values(text="state"))
        record(session, case_opened(1))
        write_recorded(session)
        assert session.scalar(select(TABLES.outbox.c.subject)) == "case-1"  # visible in the transaction
        assert subjects(engine) == []  # not outside it before the commit
        session.commit()
    assert subjects(engine) == ["case-1"]
