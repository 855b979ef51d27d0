"""Erasure in casework (issue 16 item 4, ADR 0083), over the real broker and PostgreSQL: record.erasure_requested
deletes every row about the case and its participant (counted per table before and after, another case left
alone), keeps the keyed tombstones, confirms (again, with zeros, on a retry); then the very referral.accepted
that opened the case, delivered once more, opens nothing."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from services.casework.models import Base, CaseRecord, ContactRecord, Participant
from shared.messaging.catalog import RecordErasureRequested
from shared.messaging.envelope import new_event
from shared.messaging.tables import TABLES as MESSAGING
from shared.records import TABLES as RECORDS
from tests.integration.casework.conftest import outbox_events, wait_for
from tests.integration.casework.test_casework_consent import consent_body
from tests.integration.casework.test_casework_people import accepted, case_of, disclosure


def rows_about(engine, case: CaseRecord) -> dict[str, int]:
    """Rows naming the case or its participant, per table (by case_id / participant_id / id columns)."""
    counts = {}
    with Session(engine) as session:
        for table in Base.metadata.sorted_tables:
            clauses = []
            if "case_id" in table.c:
                clauses.append(table.c.case_id == case.id)
            if "participant_id" in table.c:
                clauses.append(table.c.participant_id == case.participant_id)
            if table.name == "diversion_case":
                clauses.append(table.c.id == case.id)
            if table.name == "participant":
                clauses.append(table.c.id == case.participant_id)
            if clauses:
                counts[table.name] = session.scalar(select(func.count()).select_from(table).where(or_(*clauses)))
    return counts


def erasure_request(agency: str, case, attempt: int):
    data = RecordErasureRequested(request_id="erase-1", referral_id=case.referral_id, case_id=case.id,
                                  requested_at=datetime.now(UTC), attempt=attempt, basis="court-order")
    return new_event(data, subject="erase-1", tenantid=agency)


def confirmations(engine, agency: str) -> list[dict]:
    return [e["data"] for e in outbox_events(engine, agency, "erasure_confirmed")]


def open_case(intake, engine, agency: str):
    event = accepted(agency)
    intake.publish(event)
    return event, wait_for(lambda: case_of(engine, agency, event.data.referral_id), what="the case opened")


def test_erasure_deletes_every_row_about_the_case_keeps_tombstones_and_nothing_comes_back(tenant, intake, engine):
    tenant.add_staff("cm-1")
    event, case = open_case(intake, engine, tenant.slug)
    _, other = open_case(intake, engine, tenant.slug)
    for target in (case, other):  # a consent, a contact and a disclosure on each
        made = tenant.api.post(f"/v1/participants/{target.participant_id}/consents", token=tenant.manager_token(),
                               json=consent_body())
        assert made.status_code == 201, made.text
        with Session(engine) as session, session.begin():
            session.add(ContactRecord(id=f"c-{target.id[:12]}", agency_id=tenant.slug, case_id=target.id,
                                      kind="check_in", scheduled_for=datetime.now(UTC), status="scheduled",
                                      notes="", version=1))
        intake.publish(disclosure(tenant.slug, participant_id=target.participant_id, case_id=target.id,
                                  referral_id=f"sr-{target.id[:8]}", channel="service_referral"), service="resources")
    wait_for(lambda: rows_about(engine, other)["disclosure_record"] == 1, what="the disclosures recorded")
    before, other_before = rows_about(engine, case), rows_about(engine, other)
    for table in ("diversion_case", "participant", "consent", "case_contact", "plan_version", "case_assignment",
                  "disclosure_record"):
        assert before[table] >= 1, table

    intake.publish(erasure_request(tenant.slug, case, 1))
    wait_for(lambda: len(confirmations(engine, tenant.slug)) == 1, what="the erasure confirmation")
    intake.publish(erasure_request(tenant.slug, case, 2))  # a retry deletes nothing and confirms again
    wait_for(lambda: len(confirmations(engine, tenant.slug)) == 2, what="the retry's confirmation")

    first, second = confirmations(engine, tenant.slug)
    assert all(first["counts"][table] == n for table, n in before.items() if table in first["counts"]), first
    assert first["counts"]["outbox"] >= 1  # case.opened and the others about the case, already sent
    assert set(second["counts"].values()) == {0} and set(second["counts"]) == set(first["counts"])
    assert set(rows_about(engine, case).values()) == {0}
    assert rows_about(engine, other) == other_before
    with Session(engine) as session:
        stones = session.scalar(select(func.count()).select_from(RECORDS.tombstones)
                                .where(RECORDS.tombstones.c.request_id == "erase-1"))
        subjects = set(session.scalars(select(MESSAGING.outbox.c.subject).where(
            MESSAGING.outbox.c.sent_at.is_not(None))))
    assert stones == 3  # referral, case, participant
    assert not subjects & {case.id, case.participant_id, case.referral_id}
    assert other.id in subjects

    # The very event that opened the case, once more, after the inbox forgot it (the records purge of handled
    # inbox rows, or a restored backup): the tombstone refuses it.
    inbox = MESSAGING.inbox
    with Session(engine) as session, session.begin():
        session.execute(delete(inbox).where(inbox.c.event_id == event.id))
    participants = _count(engine, Participant, tenant.slug)
    intake.publish_again(event)
    wait_for(lambda: _handled(engine, event.id), what="the redelivered referral.accepted acknowledged")
    assert case_of(engine, tenant.slug, event.data.referral_id) is None
    assert _count(engine, Participant, tenant.slug) == participants


def _count(engine, model, agency: str) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count()).select_from(model).where(model.agency_id == agency)) or 0)


def _handled(engine, event_id: str) -> bool:
    inbox = MESSAGING.inbox
    with Session(engine) as session:
        return session.scalar(select(inbox.c.event_id).where(inbox.c.event_id == event_id)) is not None
