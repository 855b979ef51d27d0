"""Erasure (ADR 0083): record.erasure_requested deletes every row notifications holds about the case and its
participant (another case's stay), keeps only keyed tombstones, confirms with the rows deleted per table (0 on
a retry), and an old appointment.scheduled arriving again creates nothing."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from notifications_events import appointment, case_assigned, referral_status, uid
from notifications_records import (
    ERASURE_CONFIRMED,
    SEALING_CONFIRMED,
    TABLES,
    confirmations,
    erasure_requested,
    new_request,
    query,
    sealing_requested,
    tombstones_of,
)
from notifications_support import publish, wait_for

from shared.messaging.envelope import new_event
from tests.conftest import make_token

WHEN = datetime.now(UTC).replace(microsecond=0) + timedelta(days=30)  # reminders planned, none due


def counts(url: str) -> dict[str, int]:
    return {table: query(url, f"SELECT count(*) FROM {table}")[0][0] for table in (*TABLES, "outbox")}


def populate(api, agency: str, url: str, org: str) -> dict[str, str]:
    """One case as notifications learns it: contact and reminder, manager, a referral rejected, a consent."""
    case_id, participant = uid("case"), f"p-{org}"
    scheduled = appointment(agency, WHEN, case_id=case_id, email=f"{org}@example.org", participant_id=participant)
    publish(scheduled)
    publish(case_assigned(agency, case_id, f"cm-away-{org}"))  # no contact yet: the notice waits
    notices = "SELECT count(*) FROM pending_staff_notice WHERE agency_id = :a AND staff_id = :s"
    wait_for(lambda: query(url, notices, a=agency, s=f"cm-away-{org}") == [(1,)], what="the assignment notice")
    rejected = referral_status(agency, org, status="rejected", case_id=case_id)
    publish(rejected)  # a consent.recorded of the participant first (publish), then the email to the topic
    wait_for(lambda: query(url, "SELECT count(*) FROM delivery_attempt a JOIN delivery d ON d.id = a.delivery_id "
                                "WHERE d.case_id = :c", c=case_id) == [(1,)], what="the rejection email sent")
    wait_for(lambda: query(url, notices, a=agency, s=f"cm-away-{org}") == [(2,)], what="the rejection notice")
    wait_for(lambda: query(url, "SELECT count(*) FROM reminder WHERE case_id = :c", c=case_id) != [(0,)],
             what="the reminders")
    # A confirmation-free sent outbox row about the case (e.g. a disclosure.recorded long relayed).
    query_insert(url, case_id)
    return {"case": case_id, "participant": participant, "referral": uid("ref"), "event": scheduled,
            "service_referral": rejected.data.service_referral_id}


def query_insert(url: str, subject: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url.replace("+psycopg2", ""))
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO outbox (event_id, event_type, subject, exchange, routing_key, body, headers, created_at, "
            "sent_at, attempts) VALUES (:e, 'org.diversion.notifications.disclosure.recorded', :s, 'x', 'y', '{}', "
            "'{}', now(), now(), 1)"), {"e": uid("evt"), "s": subject})
    engine.dispose()


def test_erasure_deletes_the_cases_rows_keeps_tombstones_and_an_old_event_creates_nothing(
        notifications, smtp_server, agency, notifications_db, caplog):
    port, sink = smtp_server
    api = notifications(DIVERSION_NOTIFICATIONS_SMTP_PORT=str(port))
    admin = make_token(agency, ("admin",))
    assert api.request("PUT", "/v1/staff-contacts/sup-1", token=admin,
                       json={"email": "sam@example.org", "topics": ["service_referral_rejected"]}).ok
    erased = populate(api, agency, notifications_db, "org-a")
    kept = populate(api, agency, notifications_db, "org-b")
    sealed = new_request()
    publish(sealing_requested(agency, erased["referral"], erased["case"], sealed))  # marks are erased too
    wait_for(lambda: confirmations(notifications_db, SEALING_CONFIRMED, sealed), what="the sealing")
    before = counts(notifications_db)

    request = new_request()
    publish(erasure_requested(agency, erased["referral"], erased["case"], request))
    [confirmed] = wait_for(lambda: confirmations(notifications_db, ERASURE_CONFIRMED, request), what="the erasure")
    after = counts(notifications_db)
    deleted = {table: before[table] - after[table] for table in before if table != "tombstone"}
    deleted["outbox"] += 1  # the confirmation itself was added to the outbox
    assert {table: n for table, n in confirmed["counts"].items() if table != "tombstone"} == deleted
    assert confirmed["counts"]["tombstone"] == 3 and after["tombstone"] == 3
    assert deleted == {"delivery": 1, "delivery_attempt": 1, "reminder": 2, "appointment_state": 1,
                       "contact_preference": 1, "case_assignment": 1, "service_referral_case": 1,
                       "partner_consent": 1, "pending_staff_notice": 2, "record_mark": 2, "outbox": 1}
    # The other case keeps every row; nothing readable of the erased one is left, only the digests.
    for table, column in (("reminder", "case_id"), ("contact_preference", "case_id"), ("delivery", "case_id"),
                          ("case_assignment", "case_id"), ("service_referral_case", "case_id")):
        assert query(notifications_db, f"SELECT count(*) FROM {table} WHERE {column} = :c", c=erased["case"]) == [(0,)]
        assert query(notifications_db, f"SELECT count(*) FROM {table} WHERE {column} = :c", c=kept["case"]) != [(0,)]
    assert query(notifications_db, "SELECT count(*) FROM partner_consent WHERE participant_id = :p",
                 p=kept["participant"]) == [(1,)]
    stones = {row[0] for row in query(notifications_db, "SELECT digest FROM tombstone")}
    assert stones == set(tombstones_of(api, agency, referral=erased["referral"], case=erased["case"],
                                       participant=erased["participant"]))

    publish(erasure_requested(agency, erased["referral"], erased["case"], request, attempt=2))
    wait_for(lambda: len(confirmations(notifications_db, ERASURE_CONFIRMED, request)) == 2, what="the retry")
    retried = confirmations(notifications_db, ERASURE_CONFIRMED, request)[1]
    assert set(retried["counts"].values()) == {0}
    assert counts(notifications_db) == {**after, "outbox": after["outbox"] + 1}  # only the second confirmation

    # The old appointment.scheduled comes back (a DLQ replay under a new id, a restored backup's republish):
    # nothing is created; then the other case's next appointment shows the queue was consumed past it.
    old = erased["event"]
    caplog.set_level(logging.WARNING, logger="services.notifications.usecases.sealing")
    replayed = new_event(old.data, subject=old.subject, tenantid=agency)
    publish(replayed)
    control = appointment(agency, WHEN, case_id=kept["case"], email="org-b@example.org")
    publish(control)
    wait_for(lambda: query(notifications_db, "SELECT count(*) FROM reminder WHERE appointment_id = :a",
                           a=control.data.appointment_id) != [(0,)], what="the other case's next appointment")
    for table in ("reminder", "contact_preference", "appointment_state"):
        column = "appointment_id" if table == "appointment_state" else "case_id"
        value = old.data.appointment_id if table == "appointment_state" else erased["case"]
        assert query(notifications_db, f"SELECT count(*) FROM {table} WHERE {column} = :v", v=value) == [(0,)]
    warned = [r for r in caplog.records if r.levelno == logging.WARNING and replayed.id in r.getMessage()]
    assert warned and "org-a" not in warned[0].getMessage()
