"""`case.opened` and `case.assigned` of a new case applied at the same moment by two consumers (resources'
caseload, ADR 0071): the second waits for the first's row and then updates it, instead of failing its whole
batch on the key (which made every such batch roll back and re-apply its events one by one)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from services.resources.models import CaseloadEntry
from services.resources.usecases import caseload
from shared.db import make_engine
from tests.support.waiting import wait_for

NOW = datetime.now(UTC)


@pytest.fixture
def engine(pg_databases: dict[str, str]) -> Iterator[Engine]:
    engine = make_engine(pg_databases["resources"], pool_size=2)
    yield engine
    engine.dispose()


def waiting_on_a_lock(engine: Engine, application: str) -> bool:
    with engine.connect() as connection:
        return bool(connection.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE :q"),
            {"q": f"%{application}%"}).scalar_one())


@pytest.mark.parametrize("first", ["opened", "assigned"])
def test_opened_and_assigned_at_once_both_land_on_one_row(engine: Engine, first: str) -> None:
    agency, case_id = f"ag-{uuid.uuid4().hex[:6]}", f"case-{uuid.uuid4().hex[:8]}"

    def opened(session: Session) -> None:
        caseload.case_opened(session, agency, case_id, "p-1", NOW)

    def assigned(session: Session) -> None:
        caseload.case_assigned(session, agency, case_id, "cm-a", NOW, NOW)

    one, other = (opened, assigned) if first == "opened" else (assigned, opened)
    errors: list[BaseException] = []
    holder = Session(engine)
    one(holder)  # inserted, not committed: the other consumer's transaction is still open

    def second() -> None:
        try:
            with Session(engine) as session:
                other(session)
                session.commit()
        except BaseException as exc:  # noqa: BLE001 - the assertion below reports it
            errors.append(exc)

    thread = threading.Thread(target=second)
    thread.start()
    wait_for(lambda: waiting_on_a_lock(engine, case_id) or not thread.is_alive(), 10,
             "the second consumer to wait for the first one's row")
    holder.commit()
    holder.close()
    thread.join(10)

    assert errors == []
    with Session(engine) as session:
        entry = session.get(CaseloadEntry, (agency, case_id))
        assert entry is not None
        assert (entry.participant_id, entry.case_manager) == ("p-1", "cm-a")
