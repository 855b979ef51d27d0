"""PUT /v1/staff-contacts/<id> racing casework's staff.registered for the same contact: a clear 428, never a 500."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from sqlalchemy import create_engine, event, text
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
            if reads or "FROM staff_contact" not in str(state.statement):
                return None  # the advisory lock, then the read the staff event's commit lands after
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


def test_a_notice_held_while_the_contact_arrives_is_sent_when_both_transactions_commit(notifications_db: str) -> None:
    """The handler that finds no contact (and holds the notice) and the one that creates the contact (and sends
    what is held) overlap: the second waits for the first, sees its held notice and sends it."""
    from services.notifications.templates import TemplateRenderer
    from services.notifications.usecases.directory import learn_staff
    from services.notifications.usecases.fanout import FanoutContext, staff_deliveries
    from services.notifications.usecases.templates import SAMPLE_CONTEXT
    from shared.messaging.catalog import CaseAssigned, StaffRegistered
    from shared.messaging.envelope import new_event

    engine = create_engine(notifications_db)
    renderer = TemplateRenderer()
    ctx = FanoutContext(now=NOW, zone_name="America/Chicago", staff_app_url="", renderer_for=lambda s, a: renderer)
    assigned = new_event(CaseAssigned(case_id="case-r1", case_manager="cm-7", assigned_at=NOW),
                         subject="case-r1", tenantid="agency-r")
    staff = StaffRegistered(staff_id="staff-7", agency_id="agency-r", role="case_manager", active=True,
                            display_name="Dana Case", email="dana@example.org", subject="cm-7")
    registered = new_event(staff, subject="staff-7", tenantid="agency-r")
    holding = Session(engine)
    holding.begin()
    assert staff_deliveries(holding, assigned, "assignment", SAMPLE_CONTEXT["staff_new_assignment"], ctx,
                            direct=["cm-7"]) == []  # no contact yet: held, not yet committed
    learnt: list[bool] = []

    def learn() -> None:
        with Session(engine) as session, session.begin():
            learnt.append(learn_staff(session, registered, ctx))

    worker = threading.Thread(target=learn)
    worker.start()
    worker.join(1.0)
    assert worker.is_alive(), "the contact's transaction must wait for the one holding a notice for that person"
    holding.commit()
    holding.close()
    worker.join(30)
    assert learnt == [True]  # it saw the held notice and made its delivery
    with Session(engine) as session:
        assert session.scalar(text("SELECT status FROM pending_staff_notice")) == "sent"
        assert session.scalar(text("SELECT count(*) FROM delivery WHERE recipient = 'dana@example.org'")) == 1
    engine.dispose()


def test_a_client_told_to_send_if_match_reads_the_contact_and_its_etag_then_changes_it(notifications, agency) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import make_token

    api = notifications()
    admin = make_token(agency, ("admin",))
    assert api.request("PUT", "/v1/staff-contacts/cm-5", token=admin, json={"email": "dana@example.org"}).status_code \
        == 201
    again = api.request("PUT", "/v1/staff-contacts/cm-5", token=admin, json={"email": "dana@example.org"})
    assert again.status_code == 428
    read = api.get("/v1/staff-contacts/cm-5", token=admin)
    assert read.status_code == 200 and read.json()["email"] == "dana@example.org"
    changed = api.request("PUT", "/v1/staff-contacts/cm-5", token=admin, headers={"If-Match": read.headers["ETag"]},
                          json={"email": "dana.new@example.org"})
    assert changed.status_code == 200 and changed.headers["ETag"] != read.headers["ETag"]
    assert api.get("/v1/staff-contacts/cm-5", token=admin).headers["ETag"] == changed.headers["ETag"]
    # Another agency's admin, a case manager and an unknown id: nothing to read.
    assert api.get("/v1/staff-contacts/cm-5", token=make_token(f"{agency}-other", ("admin",))).status_code == 404
    assert api.get("/v1/staff-contacts/cm-5", token=make_token(agency, ("case_manager",))).status_code == 403
    assert api.get("/v1/staff-contacts/nobody", token=admin).status_code == 404
