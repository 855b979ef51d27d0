"""The caseload rule of casework, applied to service referrals (ADR 0071).

Resources learns casework's cases from `case.opened` (whose participant a case is) and `case.assigned` (the
`sub` of its case manager) into `caseload_entry`; it never takes either from a request body. A case manager
reaches only the referrals of cases assigned to them, a supervisor or admin the whole agency's, as in
casework; a reassignment moves access with the next `case.assigned`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from services.resources.models import CaseloadEntry, ServiceReferral
from shared.db import insert_for
from shared.extensions import AuditLog
from shared.http import Call
from shared.http.problems import Forbidden, UnprocessableContent

# A records officer reads the whole agency's referrals (a sealed one only naming a legal basis, ADR 0083).
WHOLE_AGENCY = frozenset({"supervisor", "admin", "records_officer"})


def _entry(session: Session, agency: str, case_id: str, *, lock: bool = False) -> CaseloadEntry | None:
    statement = select(CaseloadEntry).where(CaseloadEntry.agency_id == agency, CaseloadEntry.case_id == case_id)
    return session.scalar(statement.with_for_update() if lock else statement)


def _claimed_entry(session: Session, agency: str, case_id: str, now: dt.datetime) -> CaseloadEntry:
    """The case's row, created if new, locked until the transaction ends.

    `case.opened` and `case.assigned` of one case arrive together on two consumers: a SELECT ... FOR UPDATE
    locks nothing while the row does not exist, so both inserted and one batch failed on the key. An upsert
    waits for the other transaction's row instead; its update changes nothing but takes the row's lock, and
    RETURNING gives the row either way.
    """
    statement = (insert_for(session)(CaseloadEntry).values(agency_id=agency, case_id=case_id, updated_at=now)
                 .on_conflict_do_update(index_elements=["agency_id", "case_id"],
                                        set_={"updated_at": CaseloadEntry.updated_at})
                 .returning(CaseloadEntry))
    return session.scalars(statement, execution_options={"populate_existing": True}).one()


def case_opened(session: Session, agency: str, case_id: str, participant_id: str | None, now: dt.datetime) -> None:
    """`case.opened`: the case and its participant (an assignment seen first keeps its case manager)."""
    entry = _claimed_entry(session, agency, case_id, now)
    entry.participant_id = participant_id or entry.participant_id
    entry.updated_at = now
    session.flush()


def case_assigned(session: Session, agency: str, case_id: str, case_manager: str | None,
                  assigned_at: dt.datetime, now: dt.datetime) -> None:
    """`case.assigned`: the case's manager now; an older assignment arriving late changes nothing."""
    entry = _claimed_entry(session, agency, case_id, now)
    if entry.assigned_at is None or assigned_at >= entry.assigned_at:
        entry.case_manager, entry.assigned_at, entry.updated_at = case_manager or None, assigned_at, now
    session.flush()


def whole_agency(call: Call) -> bool:
    return bool(call.identity and call.identity.roles & WHOLE_AGENCY)


def on_caseload(session: Session, call: Call, case_id: str | None) -> bool:
    """Is this case the caller's to work on (a supervisor's or admin's always, a case manager's if assigned)?"""
    if whole_agency(call):
        return True
    if not case_id:
        return False
    entry = _entry(session, call.agency, case_id)
    return entry is not None and entry.case_manager is not None and entry.case_manager == call.actor


def caseload_filter(call: Call, statement: Select[Any]) -> Select[Any]:
    """Narrow a select of the agency's referrals to the caller's caseload (unchanged for the whole agency)."""
    if whole_agency(call):
        return statement
    mine = select(CaseloadEntry.case_id).where(CaseloadEntry.agency_id == call.agency,
                                               CaseloadEntry.case_manager == call.actor)
    return statement.where(ServiceReferral.case_id.in_(mine))


def deny(audit: AuditLog, call: Call, action: str, resource_id: str | None, case_id: str | None) -> Forbidden:
    """The audited refusal casework gives for a case not on the caller's caseload."""
    audit.record_now(call, action, "service_referral", resource_id,
                     detail={"reason": "not on caseload", "case_id": case_id}, outcome="denied")
    return Forbidden("this case is not on your caseload", slug="not-on-caseload")


def require_case(session: Session, audit: AuditLog, call: Call, case_id: str, participant_id: str, *,
                 erased: bool = False) -> None:
    """Before a referral is made: the case is casework's, it is this participant's (422 otherwise; an erased
    case, `erased`, is answered the same) and it is on the caller's caseload (403)."""
    entry = None if erased else _entry(session, call.agency, case_id)
    if entry is None or entry.participant_id is None or entry.participant_id != participant_id:
        audit.record_now(call, "service_referral.create", "service_referral", None, outcome="denied",
                         detail={"reason": "case-participant-mismatch", "case_id": case_id})
        raise UnprocessableContent(
            "case_id is not a case of this participant in your agency (a case opened a moment ago may not be "
            "known here yet)", slug="case-participant-mismatch",
            errors=[{"field": "case_id", "message": "not a case of participant_id", "type": "mismatch"}])
    if not on_caseload(session, call, case_id):
        raise deny(audit, call, "service_referral.create", None, case_id)
