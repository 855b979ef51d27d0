"""Corrections with history (staff, participants), the reassignment queue, participant search, the case
timeline, and event handlers that never overwrite what staff set."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.orm import Session

from services.casework.models import Participant
from services.casework.settings import CaseworkSettings
from services.casework.usecases.corrections import apply_event_fields
from services.casework.usecases.events import apply_referral_status, open_case_from_referral
from shared.messaging.catalog import Participant as ParticipantData
from shared.messaging.catalog import ReferralAccepted
from shared.messaging.envelope import new_event
from shared.messaging.outbox import record
from tests.conftest import make_token
from tests.integration.casework.conftest import Agency, outbox_events


def open_case_for(tenant: Agency, first: str, last: str, born: date = date(1990, 2, 3),
                  language: str = "es") -> str:
    data = ReferralAccepted(
        referral_id=f"ref-{uuid.uuid4().hex[:10]}", case_number=f"2522-CR{uuid.uuid4().hex[:6]}",
        program="young-adult", min_months=6, max_months=18,
        participant=ParticipantData(first_name=first, last_name=last, date_of_birth=born, phone="+13145550100",
                                    preferred_language=language),
        accepted_at=datetime.now(UTC), decided_by="prosecutor-1")
    event = new_event(data, subject=data.referral_id, tenantid=tenant.slug)
    with Session(tenant.engine, expire_on_commit=False) as session, session.begin():
        row = open_case_from_referral(session, lambda e: record(session, e, service="casework"), event,
                                      CaseworkSettings())
    return row.id


def audit_trail(tenant: Agency) -> list[dict]:
    return tenant.api.get("/v1/audit", token=tenant.auditor, params={"limit": 200}).json()["items"]


def staff_etag(tenant: Agency, staff_id: str) -> str:
    response = tenant.api.get(f"/v1/staff/{staff_id}", token=tenant.supervisor)
    assert response.status_code == 200, response.text
    return str(response.headers["ETag"])


# ---------------------------------------------------------------- staff corrections and the reassignment queue


def test_deactivating_a_case_manager_queues_their_two_open_cases_and_nobody_new_is_assigned(tenant, engine):
    leaving = tenant.add_staff("cm-leaving")
    first, second = tenant.open_case(), tenant.open_case()
    assert {tenant.case_row(c).case_manager_id for c in (first, second)} == {leaving}
    patch = tenant.api.request("PATCH", f"/v1/staff/{leaving}", token=tenant.supervisor, json={"active": False},
                             headers={"If-Match": staff_etag(tenant, leaving)})
    assert patch.status_code == 200, patch.text
    assert patch.json()["active"] is False and patch.json()["version"] == 2

    queue = tenant.api.get("/v1/reassignment-queue", token=tenant.supervisor)
    assert queue.status_code == 200, queue.text
    assert sorted(item["case_id"] for item in queue.json()["items"]) == sorted([first, second])
    assert {item["case_manager_id"] for item in queue.json()["items"]} == {leaving}
    assert all(item["waiting_since"] for item in queue.json()["items"])
    assert tenant.api.get("/v1/reassignment-queue", token=tenant.manager_token("cm-leaving")).status_code == 403

    # Nobody new: a new case waits (no active case manager), a manual assignment to them is refused.
    third = tenant.open_case()
    assert tenant.case_row(third).state == "pending_assignment"
    current = tenant.get_case(third)
    refused = tenant.api.post(f"/v1/cases/{third}/assignment", token=tenant.supervisor,
                              json={"case_manager_id": leaving}, headers={"If-Match": current.headers["ETag"]})
    assert refused.status_code == 409, refused.text
    # Deactivated, they reach none of their cases any more.
    assert tenant.api.get(f"/v1/cases/{first}", token=tenant.manager_token("cm-leaving")).status_code == 403

    # A supervisor reassigns one: it leaves the queue, the other waits.
    successor = tenant.add_staff("cm-next")
    moved = tenant.api.post(f"/v1/cases/{first}/assignment", token=tenant.supervisor,
                            json={"case_manager_id": successor, "reason": "cm left"},
                            headers={"If-Match": tenant.get_case(first).headers["ETag"]})
    assert moved.status_code == 200, moved.text
    left = tenant.api.get("/v1/reassignment-queue", token=tenant.supervisor).json()["items"]
    assert [item["case_id"] for item in left] == [second]
    # The timeline says so while the case waits, and shows the reassignment once it happened.
    waiting = tenant.api.get(f"/v1/cases/{second}/timeline", token=tenant.supervisor).json()["items"]
    assert waiting[-1]["kind"] == "case.awaiting_reassignment"
    done = tenant.api.get(f"/v1/cases/{first}/timeline", token=tenant.supervisor).json()["items"]
    assert [i["kind"] for i in done][-1] == "case.assigned" and done[-1]["detail"]["case_manager_id"] == successor
    assert "case.awaiting_reassignment" not in [i["kind"] for i in done]

    # staff.updated carries what notifications needs to address them; the audit names the queued cases.
    updated = outbox_events(engine, tenant.slug, "staff.updated")
    assert len(updated) == 1
    data = updated[0]["data"]
    assert (data["staff_id"], data["subject"], data["active"], data["role"], data["changed_fields"]) == (
        leaving, "cm-leaving", False, "case_manager", ["active"])
    assert data["display_name"] == "Staff cm-leaving" and data["email"] == f"cm-leaving@{tenant.slug}.example.org"
    assert updated[0]["tenantid"] == tenant.slug
    audited = [row for row in audit_trail(tenant) if row["action"] == "staff.updated"]
    assert len(audited) == 1 and audited[0]["resource_id"] == leaving
    assert sorted(audited[0]["detail"]["queued_for_reassignment"]) == sorted([first, second])


def test_staff_patch_needs_if_match_refuses_bad_input_and_keeps_history(tenant, engine):
    member = tenant.add_staff("cm-1")
    tag = staff_etag(tenant, member)
    assert tenant.api.request("PATCH", f"/v1/staff/{member}", token=tenant.supervisor,
                            json={"caseload_cap": 30}).status_code == 428
    stale = tenant.api.request("PATCH", f"/v1/staff/{member}", token=tenant.supervisor, json={"caseload_cap": 30},
                             headers={"If-Match": f'"{member}.99"'})
    assert stale.status_code == 412
    for bad in ({}, {"caseload_cap": 0}, {"programs": ["Not A Slug"]}, {"phone": "call me"}, {"role": "admin"},
                {"active": None}, {"email": "nope"}):
        refused = tenant.api.request("PATCH", f"/v1/staff/{member}", token=tenant.supervisor, json=bad,
                                     headers={"If-Match": tag})
        assert refused.status_code == 422, (bad, refused.text)
    assert tenant.api.request("PATCH", f"/v1/staff/{member}", token=tenant.manager_token("cm-1"),
                              json={"caseload_cap": 30}, headers={"If-Match": tag}).status_code == 403
    saved = tenant.api.request("PATCH", f"/v1/staff/{member}", token=tenant.supervisor,
                             json={"caseload_cap": 30, "phone": "+1 314 555 0101", "programs": ["young-adult"]},
                             headers={"If-Match": tag})
    assert saved.status_code == 200, saved.text
    assert (saved.json()["caseload_cap"], saved.json()["phone"], saved.json()["version"]) == (30, "+1 314 555 0101", 2)
    assert saved.headers["ETag"] == staff_etag(tenant, member) != tag
    history = tenant.api.get(f"/v1/staff/{member}/history", token=tenant.supervisor).json()
    assert len(history) == 1 and history[0]["changed_by"] == "sup-1" and history[0]["version"] == 2
    assert history[0]["changes"] == [{"field": "phone", "old": None, "new": "+1 314 555 0101"},
                                     {"field": "caseload_cap", "old": 25, "new": 30}]
    # Another case manager sees which fields changed, not the values.
    tenant.add_staff("cm-2")
    seen = tenant.api.get(f"/v1/staff/{member}/history", token=tenant.manager_token("cm-2")).json()
    assert seen[0]["changes"][0] == {"field": "phone", "old": None, "new": "[redacted]"}
    own = tenant.api.get(f"/v1/staff/{member}/history", token=tenant.manager_token("cm-1")).json()
    assert own[0]["changes"][0]["new"] == "+1 314 555 0101"
    assert [e["data"]["changed_fields"] for e in outbox_events(engine, tenant.slug, "staff.updated")] == [
        ["phone", "caseload_cap"]]
    # Another agency's supervisor does not reach the staff member.
    other = make_token(f"{tenant.slug}-x", ("supervisor",), sub="sup-x")
    assert tenant.api.request("PATCH", f"/v1/staff/{member}", token=other, json={"caseload_cap": 31},
                            headers={"If-Match": saved.headers["ETag"]}).status_code == 404


# ---------------------------------------------------------------- participant corrections


def test_participant_patch_with_if_match_history_and_audit(tenant):
    tenant.add_staff("cm-1")
    case_id = tenant.open_case()
    person = tenant.case_row(case_id).participant_id
    token = tenant.manager_token("cm-1")
    read = tenant.api.get(f"/v1/participants/{person}", token=token)
    assert read.status_code == 200 and read.json()["version"] == 1
    url = f"/v1/participants/{person}"
    assert tenant.api.request("PATCH", url, token=token, json={"preferred_language": "bs"}).status_code == 428
    assert tenant.api.request("PATCH", url, token=token, json={"preferred_language": "bs"},
                            headers={"If-Match": f'"{person}.7"'}).status_code == 412
    for bad in ({}, {"preferred_language": "not a language"}, {"preferred_language": None}, {"first_name": "X"},
                {"postal_code": "!!"}, {"city": "   "}, {"phone": "x"}):
        assert tenant.api.request("PATCH", url, token=token, json=bad, headers={"If-Match": read.headers["ETag"]}
                                ).status_code == 422, bad
    other_manager = tenant.manager_token("cm-2")
    tenant.add_staff("cm-2")
    assert tenant.api.request("PATCH", url, token=other_manager, json={"city": "St. Louis"},
                            headers={"If-Match": read.headers["ETag"]}).status_code == 403
    assert tenant.api.request("PATCH", url, token=tenant.auditor, json={"city": "St. Louis"},
                            headers={"If-Match": read.headers["ETag"]}).status_code == 403
    saved = tenant.api.request("PATCH", url, token=token, headers={"If-Match": read.headers["ETag"]}, json={
        "preferred_language": "bs", "address_line1": "1114 Market St", "city": "St. Louis", "region": "MO",
        "postal_code": "63101", "email": None})
    assert saved.status_code == 200, saved.text
    body = saved.json()
    assert (body["preferred_language"], body["city"], body["email"], body["version"]) == ("bs", "St. Louis", None, 2)
    history = tenant.api.get(f"{url}/history", token=token).json()
    assert [c["field"] for c in history[0]["changes"]] == [
        "email", "preferred_language", "address_line1", "city", "region", "postal_code"]
    assert history[0]["changes"][1] == {"field": "preferred_language", "old": "es", "new": "bs"}
    assert tenant.api.get(f"{url}/history", token=other_manager).status_code == 403
    # The same values again: nothing changes, no new version.
    same = tenant.api.request("PATCH", url, token=token, json={"city": "St. Louis"},
                              headers={"If-Match": saved.headers["ETag"]})
    assert same.status_code == 200 and same.json()["version"] == 2
    trail = audit_trail(tenant)
    corrected = [row for row in trail if row["action"] == "participant.corrected"]
    assert len(corrected) == 2 and corrected[0]["resource_id"] == person and corrected[0]["actor"] == "cm-1"
    assert "St. Louis" not in str(trail)  # the audit names fields, never the values
    assert any(row["action"] == "participant.history_read" for row in trail)


# ---------------------------------------------------------------- event handlers keep what staff set


def test_staff_set_language_survives_the_appointment_event_and_events_bump_the_version(tenant, engine):
    tenant.add_staff("cm-1")
    case_id = tenant.open_case()  # the referral says "es"
    person = tenant.case_row(case_id).participant_id
    token = tenant.manager_token("cm-1")
    read = tenant.api.get(f"/v1/participants/{person}", token=token)
    saved = tenant.api.request("PATCH", f"/v1/participants/{person}", token=token, json={"preferred_language": "bs"},
                             headers={"If-Match": read.headers["ETag"]})
    assert saved.status_code == 200, saved.text
    appointment = tenant.api.post(f"/v1/cases/{case_id}/appointments", token=token, json={
        "starts_at": (datetime.now(UTC) + timedelta(days=3)).isoformat(), "with_whom": "Housing Partner"})
    assert appointment.status_code == 201, appointment.text
    event = outbox_events(engine, tenant.slug, "appointment.scheduled")[-1]
    assert event["data"]["preferred_language"] == "bs"  # notifications is told the staff's choice

    # A handler offering participant data: the staff-set language stays, a real change bumps the version.
    with Session(engine, expire_on_commit=False) as session, session.begin():
        row = session.get(Participant, person)
        changes = apply_event_fields(session, row, {"preferred_language": "en", "phone": "+13145550999"},
                                     source="test.event", now=datetime.now(UTC))
    assert [c.field for c in changes] == ["phone"]
    after = tenant.api.get(f"/v1/participants/{person}", token=token).json()
    assert (after["preferred_language"], after["phone"], after["version"]) == ("bs", "+13145550999", 3)
    with Session(engine) as session, session.begin():
        unchanged = apply_event_fields(session, session.get(Participant, person), {"preferred_language": "en"},
                                       source="test.event", now=datetime.now(UTC))
    assert unchanged == []
    assert tenant.api.get(f"/v1/participants/{person}", token=token).json()["version"] == 3
    history = tenant.api.get(f"/v1/participants/{person}/history", token=token).json()
    assert [h["changed_by"] for h in history] == ["cm-1", "test.event"]


def test_a_redelivered_referral_accepted_leaves_the_corrected_participant_alone(tenant, engine):
    tenant.add_staff("cm-1")
    event_case = tenant.open_case(referral_id="ref-corrected")
    person = tenant.case_row(event_case).participant_id
    token = tenant.manager_token("cm-1")
    read = tenant.api.get(f"/v1/participants/{person}", token=token)
    assert tenant.api.request("PATCH", f"/v1/participants/{person}", token=token, json={"preferred_language": "bs"},
                            headers={"If-Match": read.headers["ETag"]}).status_code == 200
    assert tenant.open_case(referral_id="ref-corrected") == event_case  # the handler finds the case
    after = tenant.api.get(f"/v1/participants/{person}", token=token).json()
    assert (after["preferred_language"], after["version"]) == ("bs", 2)


def test_the_service_referral_handler_keeps_a_goal_staff_dropped_and_versions_what_it_moves(tenant, engine):
    tenant.add_staff("cm-1")
    case_id = tenant.open_case()
    token = tenant.manager_token("cm-1")

    def change(body):
        current = tenant.api.get(f"/v1/cases/{case_id}/plan", token=token)
        response = tenant.api.post(f"/v1/cases/{case_id}/plan/changes", token=token, json=body,
                                   headers={"If-Match": current.headers["ETag"]})
        assert response.status_code == 200, response.text
        return response.json()

    dropped = change({"op": "add_goal", "domain": "housing", "description": "a lease",
                      "reason": "asked for before any assessment"})["goals"][0]["id"]
    kept = change({"op": "add_goal", "domain": "employment", "description": "a job",
                   "reason": "asked for before any assessment"})["goals"][1]["id"]
    for goal in (dropped, kept):
        change({"op": "link_service_referral", "goal_id": goal, "service_referral_id": "sr-1"})
    before = change({"op": "set_goal_status", "goal_id": dropped, "status": "dropped"})["version"]
    with Session(engine) as session, session.begin():
        moved = apply_referral_status(session, lambda e: record(session, e, service="casework"), tenant.slug,
                                      "sr-1", "completed")
    assert moved == [case_id]
    plan = tenant.api.get(f"/v1/cases/{case_id}/plan", token=token).json()
    status = {g["id"]: g["status"] for g in plan["goals"]}
    assert status == {dropped: "dropped", kept: "achieved"}
    assert plan["version"] == before + 1


# ---------------------------------------------------------------- participant search


def test_search_finds_a_prefix_without_accents_within_what_the_caller_may_see(tenant, casework, engine):
    tenant.add_staff("cm-1")
    mine = open_case_for(tenant, "José", "Álvarez", born=date(1990, 2, 3))
    tenant.add_staff("cm-2", cap=25)
    # cm-1 and cm-2 share by least caseload: the next case goes to cm-2.
    theirs = open_case_for(tenant, "Josefina", "Muñoz", born=date(1985, 7, 1))
    assert tenant.case_row(theirs).case_manager_id != tenant.case_row(mine).case_manager_id
    other = Agency(f"{tenant.slug}-o", casework, engine)
    other.add_staff("cm-1")
    open_case_for(other, "José", "Alvarez")
    me, mine_person = tenant.manager_token("cm-1"), tenant.case_row(mine).participant_id

    def names(token, **params):
        response = tenant.api.get("/v1/participants", token=token, params=params)
        assert response.status_code == 200, response.text
        return [(i["first_name"], i["last_name"]) for i in response.json()["items"]]

    assert names(me, name="jose") == [("José", "Álvarez")]  # not cm-2's Josefina, not the other agency's
    assert names(me, name="ALVA") == [("José", "Álvarez")]
    assert names(me, name="jose alv") == [("José", "Álvarez")]
    assert names(me, name="Josef") == []
    assert set(names(tenant.supervisor, name="jose")) == {("José", "Álvarez"), ("Josefina", "Muñoz")}
    assert names(tenant.supervisor, name="munoz") == [("Josefina", "Muñoz")]
    assert names(tenant.supervisor, name="jose", born="1990-02-03") == [("José", "Álvarez")]
    assert set(names(tenant.supervisor, case_status="active")) == {("José", "Álvarez"), ("Josefina", "Muñoz")}
    assert names(tenant.supervisor, case_status="completed") == []
    assert set(names(tenant.supervisor)) == {("José", "Álvarez"), ("Josefina", "Muñoz")}  # no term: all I may see
    assert names(me) == [("José", "Álvarez")]
    assert names(tenant.supervisor, name="%") == [] and names(tenant.supervisor, name="_") == []
    assert names(other.supervisor, name="jose") == [("José", "Alvarez")]
    # pages by a signed keyset cursor
    first = tenant.api.get("/v1/participants", token=tenant.supervisor, params={"name": "jos", "limit": 1}).json()
    assert len(first["items"]) == 1 and first["next_cursor"]
    second = tenant.api.get("/v1/participants", token=tenant.supervisor,
                            params={"name": "jos", "limit": 1, "cursor": first["next_cursor"]}).json()
    assert len(second["items"]) == 1 and second["items"][0]["id"] != first["items"][0]["id"]
    assert second["next_cursor"] is None
    # bad input
    for params in ({"born": "3 Feb 1990"}, {"case_status": "lost"}, {"name": ""}, {"name": "x" * 101},
                   {"name": "a\x00"}, {"nope": "1"}):
        assert tenant.api.get("/v1/participants", token=tenant.supervisor, params=params).status_code == 422, params
    assert tenant.api.get("/v1/participants", token=make_token(tenant.slug, ("screener",)),
                          params={"name": "jose"}).status_code == 403
    searched = [row for row in audit_trail(tenant) if row["action"] == "participant.searched"]
    mine_search = next(row for row in searched if row["actor"] == "cm-1" and row["detail"]["terms"] == {"name": "jose"})
    assert mine_search["detail"]["ids"] == [mine_person]


# ---------------------------------------------------------------- the case timeline


def test_the_timeline_lists_the_cases_events_in_order_paginated_and_audited(tenant):
    tenant.add_staff("cm-1")
    case_id = tenant.open_case()
    token = tenant.manager_token("cm-1")
    now = datetime.now(UTC)
    contact = tenant.api.post(f"/v1/cases/{case_id}/contacts", token=token,
                              json={"scheduled_for": (now + timedelta(seconds=1)).isoformat()})
    assert contact.status_code == 201, contact.text
    current = tenant.api.get(f"/v1/cases/{case_id}/plan", token=token)
    assert tenant.api.post(f"/v1/cases/{case_id}/plan/changes", token=token, headers={
        "If-Match": current.headers["ETag"]}, json={"op": "add_goal", "domain": "housing",
                                                    "description": "a lease",
                                                    "reason": "asked for before any assessment"}).status_code == 200
    incident = tenant.api.post(f"/v1/cases/{case_id}/incidents", token=token, json={
        "kind": "missed_checkin", "occurred_on": now.date().isoformat(), "description": "private words"})
    assert incident.status_code == 201, incident.text
    appointment = tenant.api.post(f"/v1/cases/{case_id}/appointments", token=token, json={
        "starts_at": (now + timedelta(days=2)).isoformat(), "with_whom": "Housing Partner"})
    assert appointment.status_code == 201, appointment.text

    whole = tenant.api.get(f"/v1/cases/{case_id}/timeline", token=token, params={"limit": 200})
    assert whole.status_code == 200, whole.text
    items = whole.json()["items"]
    kinds = [item["kind"] for item in items]
    assert kinds[:3] == ["case.opened", "case.assigned", "plan.version"]  # one transaction, in story order
    assert {"case.opened", "case.assigned", "plan.version", "contact.scheduled", "incident.recorded",
            "appointment.scheduled"} <= set(kinds)
    assert kinds[-1] == "appointment.scheduled"  # two days ahead: the latest entry
    assert [i["at"] for i in items] == sorted(i["at"] for i in items)
    assert [i["detail"]["version"] for i in items if i["kind"] == "plan.version"] == [1, 2]
    assert "private words" not in whole.text

    paged, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = tenant.api.get(f"/v1/cases/{case_id}/timeline", token=token, params=params).json()
        paged += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert paged == items
    assert tenant.api.get(f"/v1/cases/{case_id}/timeline", token=token,
                          params={"cursor": "forged.cursor"}).status_code == 400
    tenant.add_staff("cm-2")
    assert tenant.api.get(f"/v1/cases/{case_id}/timeline", token=tenant.manager_token("cm-2")).status_code == 403
    stranger = make_token(f"{tenant.slug}-x", ("supervisor",))
    assert tenant.api.get(f"/v1/cases/{case_id}/timeline", token=stranger).status_code == 404
    reads = [row for row in audit_trail(tenant) if row["action"] == "case.timeline_read"]
    assert len(reads) >= 4 and all(row["resource_id"] == case_id for row in reads)

