"""Cases from `referral.accepted`: exactly once (redelivery, republishing, two consumers), assignment and the
supervisor's queue, tenancy and audited reads."""

from __future__ import annotations

import time
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.casework.domain.lifecycle import add_months
from services.casework.models import CaseRecord, Participant
from shared.messaging.catalog import Demographics
from tests.conftest import make_token
from tests.integration.casework.conftest import outbox_events, referral, wait_for


def cases_for(engine, agency):
    with Session(engine) as session:
        return session.scalars(select(CaseRecord).where(CaseRecord.agency_id == agency)).all()


def test_case_opens_once_when_referral_accepted_is_delivered_twice(tenant, intake, engine, tap):
    tenant.add_staff("cm-1")
    event = referral(tenant.slug, demographics=Demographics(sex="female", race="black", ethnicity="not_hispanic"))
    intake.publish(event)
    intake.publish_again(event)  # the same event again (the relay died before marking it sent)
    republished = event.model_copy(update={"id": "republished-" + event.id})
    intake.publish(republished)  # the same referral under a new event id (intake replayed it)

    wait_for(lambda: len(tap.of(tenant.slug, "case.assigned")) == 1, what="case.assigned")
    wait_for(lambda: _inbox_count(engine, event.id, republished.id) == 2, what="both event ids handled")
    cases = cases_for(engine, tenant.slug)
    assert len(cases) == 1
    case = cases[0]
    assert case.state == "active"
    assert case.referral_id == event.data.referral_id
    assert case.start_date is not None
    assert case.expected_end_date == add_months(case.start_date, 6)
    with Session(engine) as session:
        person = session.get(Participant, case.participant_id)
        assert (person.first_name, person.race, person.sex) == ("Jordan", "black", "female")
        assert person.age_at_referral == _age(date(2001, 5, 17))
    opened = outbox_events(engine, tenant.slug, "case.opened")
    assert len(opened) == 1 and opened[0]["data"]["state"] == "active"
    assert [e["data"]["case_manager"] for e in outbox_events(engine, tenant.slug, "case.assigned")] == ["cm-1"]
    # case.opened reaches consumers before case.assigned (the staff.registered of add_staff comes before both)
    assert [e["type"].rsplit(".", 2)[-2:] for e in tap.of(tenant.slug) if ".case." in e["type"]][:2] == [
        ["case", "opened"], ["case", "assigned"]]


def _age(born: date) -> int:
    today = date.today()
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _inbox_count(engine, *event_ids):
    from shared.messaging.tables import TABLES

    with engine.connect() as connection:
        return connection.execute(select(func.count()).where(TABLES.inbox.c.event_id.in_(event_ids))).scalar_one()


def test_case_opens_once_when_two_casework_containers_consume_at_once(start_service, casework, tenant, intake,
                                                                      engine):
    start_service("casework")  # a second replica competing on the same queue and database
    tenant.add_staff("cm-1", cap=100)
    tenant.add_staff("cm-2", cap=100)
    events = [referral(tenant.slug) for _ in range(12)]
    copies = [e.model_copy(update={"id": "copy-" + e.id}) for e in events]
    intake.publish(*[item for pair in zip(events, copies, strict=True) for item in pair])

    wait_for(lambda: _inbox_count(engine, *[e.id for e in events + copies]) == 24, timeout=40,
             what="all 24 deliveries handled")
    cases = cases_for(engine, tenant.slug)
    assert sorted(c.referral_id for c in cases) == sorted(e.data.referral_id for e in events)
    assert len(outbox_events(engine, tenant.slug, "case.opened")) == 12
    assert len(outbox_events(engine, tenant.slug, "case.assigned")) == 12
    # least caseload spreads them evenly
    loads = sorted(sum(1 for c in cases if c.case_manager_id == m) for m in {c.case_manager_id for c in cases})
    assert loads == [6, 6]


def test_case_waits_in_the_supervisors_queue_when_nobody_has_room(tenant, engine):
    busy = tenant.add_staff("cm-1", cap=1)
    first = tenant.open_case()
    waiting = tenant.open_case()
    assert tenant.case_row(first).case_manager_id == busy
    assert tenant.case_row(waiting).state == "pending_assignment"
    assert outbox_events(engine, tenant.slug, "case.opened")[-1]["data"]["state"] == "pending_assignment"

    queue = tenant.api.get("/v1/cases", token=tenant.supervisor, params={"status": "pending_assignment"})
    assert queue.status_code == 200
    assert [c["id"] for c in queue.json()["items"]] == [waiting]

    roomy = tenant.add_staff("cm-2", cap=5)
    etag = tenant.get_case(waiting).headers["ETag"]
    assigned = tenant.api.post(f"/v1/cases/{waiting}/assignment", token=tenant.supervisor,
                               json={"case_manager_id": roomy, "reason": "new hire"}, headers={"If-Match": etag})
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["state"] == "active"
    assert tenant.api.get("/v1/cases", token=tenant.supervisor,
                          params={"status": "pending_assignment"}).json()["items"] == []


def test_a_waiting_case_is_assigned_by_the_timer_once_a_case_manager_has_room(start_service, tenant, engine):
    # a second replica sweeping every 0.2 s, as a deployment's timer would (every 5 minutes by default)
    start_service("casework", DIVERSION_CASEWORK_TIMER_INTERVAL_SECONDS="0.2")
    busy = tenant.add_staff("cm-1", cap=1)
    first, waiting = tenant.open_case(), tenant.open_case()
    assert tenant.case_row(waiting).state == "pending_assignment"
    time.sleep(1)  # several sweeps: nobody has room, so the case keeps waiting
    assert tenant.case_row(waiting).state == "pending_assignment"

    closed = tenant.transition(first, {"action": "terminate", "reason": "non_compliance", "detail": "moved away"})
    assert closed.status_code == 200, closed.text
    wait_for(lambda: tenant.case_row(waiting).state == "active", timeout=20, what="the waiting case assigned")
    assert tenant.case_row(waiting).case_manager_id == busy
    time.sleep(1)  # more sweeps change nothing: one assignment, one event
    assigned = [e for e in outbox_events(engine, tenant.slug, "case.assigned") if e["subject"] == waiting]
    assert len(assigned) == 1 and assigned[0]["data"]["case_manager"] == "cm-1"


def test_supervisor_reassigns_with_history_and_a_full_caseload_needs_an_explicit_override(tenant):
    first = tenant.add_staff("cm-1", cap=1)
    second = tenant.add_staff("cm-2", cap=1)
    case_a = tenant.open_case()
    case_b = tenant.open_case()
    assert {tenant.case_row(case_a).case_manager_id, tenant.case_row(case_b).case_manager_id} == {first, second}

    holder = tenant.case_row(case_a).case_manager_id
    other = second if holder == first else first
    etag = tenant.get_case(case_a).headers["ETag"]
    refused = tenant.api.post(f"/v1/cases/{case_a}/assignment", token=tenant.supervisor,
                              json={"case_manager_id": other}, headers={"If-Match": etag})
    assert refused.status_code == 409
    assert refused.json()["type"].endswith("/assignment-refused")
    moved = tenant.api.post(f"/v1/cases/{case_a}/assignment", token=tenant.supervisor,
                            json={"case_manager_id": other, "reason": "coverage", "allow_over_cap": True},
                            headers={"If-Match": etag})
    assert moved.status_code == 200, moved.text
    history = tenant.api.get(f"/v1/cases/{case_a}/assignments", token=tenant.supervisor).json()
    assert [(row["case_manager_id"], row["previous_case_manager_id"]) for row in history] == [
        (holder, None), (other, holder)]
    assert history[0]["strategy"] == "least_caseload" and history[1]["assigned_by"] == "sup-1"

    cm_token = tenant.manager_token("cm-1")
    denied = tenant.api.post(f"/v1/cases/{case_a}/assignment", token=cm_token,
                             json={"case_manager_id": first}, headers={"If-Match": moved.headers["ETag"]})
    assert denied.status_code == 403


def test_agency_chooses_round_robin_and_new_cases_follow_it(tenant):
    settings = tenant.api.get("/v1/settings", token=tenant.supervisor)
    assert settings.json()["assignment_strategy"] == "least_caseload"
    assert {"least_caseload", "round_robin"} <= set(settings.json()["installed_strategies"])
    stale = tenant.api.request("PUT", "/v1/settings", token=tenant.supervisor,
                               json={"assignment_strategy": "round_robin"})
    assert stale.status_code == 428
    changed = tenant.api.request("PUT", "/v1/settings", token=tenant.supervisor,
                                 json={"assignment_strategy": "round_robin"},
                                 headers={"If-Match": settings.headers["ETag"]})
    assert changed.status_code == 200, changed.text
    unknown = tenant.api.request("PUT", "/v1/settings", token=tenant.supervisor,
                                 json={"assignment_strategy": "coin_flip"},
                                 headers={"If-Match": changed.headers["ETag"]})
    assert unknown.status_code == 422

    a = tenant.add_staff("cm-a", cap=10)
    b = tenant.add_staff("cm-b", cap=10)
    order = [tenant.case_row(tenant.open_case()).case_manager_id for _ in range(4)]
    assert order[:2] in ([a, b], [b, a]) and order[2:] == order[:2]


def test_case_manager_sees_only_their_caseload(tenant):
    tenant.add_staff("cm-1")
    mine = tenant.open_case()
    tenant.add_staff("cm-2", cap=1)  # cm-1 has 1 case, cm-2 none: the next goes to cm-2
    theirs = tenant.open_case()
    token = tenant.manager_token("cm-1")
    listed = tenant.api.get("/v1/cases", token=token).json()["items"]
    assert [c["id"] for c in listed] == [mine]
    assert tenant.api.get(f"/v1/cases/{theirs}", token=token).status_code == 403
    assert tenant.api.get(f"/v1/cases/{mine}", token=token).status_code == 200


def test_another_agencys_case_answers_404_like_a_missing_one(tenant):
    tenant.add_staff("cm-1")
    case_id = tenant.open_case()
    stranger = make_token("other-agency", ("supervisor",), sub="sup-x")
    foreign = tenant.api.get(f"/v1/cases/{case_id}", token=stranger)
    missing = tenant.api.get("/v1/cases/no-such-case", token=stranger)
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json()["detail"] == missing.json()["detail"]
    participant = tenant.case_row(case_id).participant_id
    assert tenant.api.get(f"/v1/participants/{participant}", token=stranger).status_code == 404
    attempt = tenant.api.post(f"/v1/cases/{case_id}/transitions", token=stranger,
                              json={"action": "withdraw", "reason": "x"}, headers={"If-Match": "*"})
    assert attempt.status_code == 404
    assert tenant.api.get(f"/v1/cases/{case_id}/plan", token=stranger).status_code == 404


def test_reads_of_a_participants_record_are_audited(tenant):
    tenant.add_staff("cm-1")
    case_id = tenant.open_case()
    participant = tenant.case_row(case_id).participant_id
    token = tenant.manager_token("cm-1")
    assert tenant.api.get(f"/v1/cases/{case_id}", token=token, headers={"X-Request-ID": "read-1"}).ok
    assert tenant.api.get(f"/v1/participants/{participant}", token=token).ok
    assert tenant.api.get(f"/v1/participants/{participant}/consents", token=token).ok
    assert tenant.api.get(f"/v1/cases/{case_id}/plan", token=token).ok
    trail = tenant.api.get("/v1/audit", token=tenant.auditor, params={"limit": 50}).json()["items"]
    reads = [(row["action"], row["resource_id"], row["actor"]) for row in trail if row["action"].endswith(".read")]
    assert ("case.read", case_id, "cm-1") in reads
    assert ("participant.read", participant, "cm-1") in reads
    assert ("consent.read", participant, "cm-1") in reads
    assert ("plan.read", case_id, "cm-1") in reads
    case_read = next(row for row in trail if row["action"] == "case.read")
    assert case_read["request_id"] == "read-1" and case_read["outcome"] == "success"
    assert "Jordan" not in str(trail)  # no names in the audit detail


def test_the_default_strategy_comes_from_the_environment(start_service, agency):
    api = start_service("casework", DIVERSION_CASEWORK_ASSIGNMENT_STRATEGY="round_robin")
    settings = api.get("/v1/settings", token=make_token(agency, ("supervisor",)))
    assert settings.json()["assignment_strategy"] == "round_robin"


def test_a_case_is_found_by_its_referral_among_more_than_a_page_of_cases(tenant):
    # diversion demo looks its case up this way: it must work however many cases the agency holds.
    ids = [tenant.open_case(referral_id=f"ref-many-{n:03d}") for n in range(60)]
    first_page = tenant.api.get("/v1/cases", token=tenant.supervisor).json()
    assert len(first_page["items"]) == 50 and first_page["next_cursor"]
    found = tenant.api.get("/v1/cases", token=tenant.supervisor, params={"referral_id": "ref-many-059"})
    assert found.status_code == 200, found.text
    assert [c["id"] for c in found.json()["items"]] == [ids[59]]
    assert tenant.api.get("/v1/cases", token=tenant.supervisor,
                          params={"referral_id": "ref-of-nobody"}).json()["items"] == []
    assert tenant.api.get("/v1/cases", token=tenant.supervisor, params={"referral_id": ""}).status_code == 422
