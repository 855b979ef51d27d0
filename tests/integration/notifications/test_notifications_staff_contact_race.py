"""PUT /v1/staff-contacts/<id> racing casework's staff.registered for the same contact: a clear 428, never a 500."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import create_engine, event
from sqlalchemy.orm import Session

from services.notifications.models import StaffContact
from services.notifications.schemas import StaffContactIn
from services.notifications.usecases import people
from shared.auth import Identity
from shared.http import Call
from shared.http.problems import PreconditionRequired

NOW = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)


def test_a_contact_created_by_the_staff_event_between_the_read_and_the_insert_asks_for_if_match(
    notifications_db: str,
) -> None:
    engine = create_engine(notifications_db)
    call: Call[Any, Any] = Call(identity=Identity(sub="admin-1", agency="agency-r", roles=frozenset({"admin"})),
                                path={})
    body = StaffContactIn(email="dana@example.org", topics=["escalation"])
    with Session(engine) as session:
        reads = []

        @event.listens_for(session, "do_orm_execute")
        def the_event_lands_after_the_first_read(state: Any) -> Any:
            if reads:
                return None
            reads.append(state.statement)
            result = state.invoke_statement()
            with Session(engine) as other, other.begin():  # what learn_staff commits at this moment
                other.add(StaffContact(agency_id="agency-r", staff_id="cm-9", email="dana@example.org",
                                       name="Dana", topics=[], active=True, version=1, updated_at=NOW))
            return result

        with pytest.raises(PreconditionRequired):
            people.put_staff_contact(session, call, "cm-9", body, NOW)
        session.rollback()
    with Session(engine) as session:
        rows = session.query(StaffContact).filter_by(agency_id="agency-r", staff_id="cm-9").all()
        assert [(row.version, row.topics) for row in rows] == [(1, [])]  # the learnt contact, untouched
    engine.dispose()
