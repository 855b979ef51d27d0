"""Supervision timers: overdue check-ins, silent cases and approaching program ends are published once, even
with two casework replicas sweeping the same database at the same moment."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from services.casework.models import CaseRecord, ContactRecord
from services.casework.settings import CaseworkSettings
from services.casework.usecases import supervision as sweeps
from shared.messaging.outbox import record
from tests.integration.casework.conftest import make_case_due_everything, outbox_events, wait_for

KINDS = ("checkin.overdue", "case.contact_overdue", "case.end_approaching")


def alerts_of(engine, agency, case_id):
    return sorted(e["type"].split(".", 3)[3] for e in outbox_events(engine, agency) if e["subject"] == case_id
                  and e["type"].split(".", 3)[3] in KINDS)


def test_two_replicas_sweeping_publish_each_alert_once(start_service, tenant, tap):
    fast = {"DIVERSION_CASEWORK_TIMER_INTERVAL_SECONDS": "0.2"}
    replicas = [start_service("casework", **fast), start_service("casework", **fast)]
    assert all(r.container for r in replicas)
    tenant.add_staff("cm-1")
    first = make_case_due_everything(tenant)
    wait_for(lambda: sorted(e["type"].split(".", 3)[3] for e in tap.of(tenant.slug) if e["subject"] == first
                            and e["type"].split(".", 3)[3] in KINDS) == sorted(KINDS), what="three alerts")
    # More sweeps run while a second case becomes due; once its alerts are out, the first case's are unchanged.
    second = make_case_due_everything(tenant)
    wait_for(lambda: len([e for e in tap.of(tenant.slug) if e["subject"] == second
                          and e["type"].split(".", 3)[3] in KINDS]) == 3, what="the second case's alerts")
    for case_id in (first, second):
        assert alerts_of(tenant.engine, tenant.slug, case_id) == sorted(KINDS)
        published = [e for e in tap.of(tenant.slug) if e["subject"] == case_id]
        assert sorted(e["type"].split(".", 3)[3] for e in published if e["type"].split(".", 3)[3] in KINDS) == \
            sorted(KINDS)
    overdue = next(e for e in tap.of(tenant.slug, "checkin.overdue") if e["subject"] == first)
    assert overdue["data"]["checkin_id"] == f"c-{first[:8]}"
    ending = next(e for e in tap.of(tenant.slug, "case.end_approaching") if e["subject"] == first)
    assert ending["data"]["days_left"] == 10 and ending["data"]["case_manager"] == "cm-1"


def test_two_sweeps_racing_in_one_instant_record_each_alert_once(tenant):
    tenant.add_staff("cm-1")
    case_id = make_case_due_everything(tenant)
    barrier = threading.Barrier(2)
    counts: list[int] = []
    errors: list[BaseException] = []
    now = datetime.now(UTC)

    def sweep() -> None:
        try:
            with Session(tenant.engine) as session, session.begin():
                sweeps.open_case_clocks(session)  # warm up, then meet the other sweep
                barrier.wait()
                counts.append(sweeps.supervision_sweep(session, lambda e: record(session, e, service="casework"),
                                                  CaseworkSettings(), now))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert alerts_of(tenant.engine, tenant.slug, case_id) == sorted(KINDS)
    assert len(counts) == 2 and 0 in counts  # the second sweep found every key taken


def test_a_completed_check_in_or_contact_stops_the_alerts(tenant):
    tenant.add_staff("cm-1")
    case_id = make_case_due_everything(tenant)
    with Session(tenant.engine) as session, session.begin():
        session.execute(update(ContactRecord).where(ContactRecord.case_id == case_id).values(
            status="completed", completed_at=datetime.now(UTC)))
        session.execute(update(CaseRecord).where(CaseRecord.id == case_id).values(
            expected_end_date=date.today() + timedelta(days=90)))
    with Session(tenant.engine) as session, session.begin():
        sweeps.supervision_sweep(session, lambda e: record(session, e, service="casework"), CaseworkSettings(),
                            datetime.now(UTC))
        assert session.scalar(select(CaseRecord.state).where(CaseRecord.id == case_id)) == "active"
    assert alerts_of(tenant.engine, tenant.slug, case_id) == []
