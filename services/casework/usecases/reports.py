"""The caseload, overdue and outcome reports' inputs, read from the tables."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.casework.domain import reports
from services.casework.mapping import case_manager, plan_from_row, report_row
from services.casework.models import CaseRecord, Participant, Staff
from services.casework.settings import CaseworkSettings
from services.casework.usecases.plans import current_plan_row
from services.casework.usecases.supervision import open_case_clocks, scheduled_contacts
from shared.records import sealed_ids


def case_rows(session: Session, agency: str) -> list[reports.CaseRow]:
    rows = session.execute(select(CaseRecord, Participant).join(
        Participant, Participant.id == CaseRecord.participant_id).where(CaseRecord.agency_id == agency)).tuples()
    return [report_row(c, p) for c, p in rows]


def caseload(session: Session, agency: str) -> list[reports.CaseloadRow]:
    members = [case_manager(m) for m in session.scalars(select(Staff).where(Staff.agency_id == agency))]
    return reports.caseload_report(members, case_rows(session, agency))


def overdue(session: Session, agency: str, settings: CaseworkSettings, now: datetime) -> list[reports.OverdueItem]:
    hidden = sealed_ids(session, agency, "case", [c.case_id for c in open_case_clocks(session, agency)])
    clocks = [c for c in open_case_clocks(session, agency) if c.case_id not in hidden]  # a detail: no sealed case
    ids = [c.case_id for c in clocks]
    plans = []
    for case_id in ids:
        record = current_plan_row(session, case_id)
        if record is not None:
            plans.append(plan_from_row(record))
    return reports.overdue_items(now=now, clocks=clocks, contacts=scheduled_contacts(session, ids), plans=plans,
                                 grace=timedelta(hours=settings.checkin_grace_hours),
                                 no_contact_days=settings.no_contact_days)
