"""Participant search: by a name prefix (accents and case ignored), birth date and case status.

Scoped like every participant read (`api.base.CaseworkBase._participant`): the caller's agency only, and a
case manager only the participants of the cases on their caseload (`cases.on_caseload`'s rule as a query);
supervisors, auditors and admins the whole agency.
"""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from services.casework.domain.lifecycle import CaseState
from services.casework.domain.search import name_patterns
from services.casework.models import CaseRecord, Participant
from services.casework.schemas_corrections import ParticipantHit, ParticipantSearchQuery
from services.casework.usecases.staff import staff_for_subject
from shared.http import Call
from shared.http.pagination import paginate
from shared.records import unsealed


def search_participants(
    session: Session, call: Call[None, ParticipantSearchQuery], *, whole_agency: bool, include_sealed: bool = False,
) -> tuple[list[ParticipantHit], str | None]:
    query = call.query
    statement = (select(Participant.id, Participant.first_name, Participant.last_name, Participant.date_of_birth,
                        CaseRecord.id.label("case_id"), CaseRecord.state, CaseRecord.case_manager_id)
                 .join(CaseRecord, (CaseRecord.participant_id == Participant.id)
                       & (CaseRecord.agency_id == Participant.agency_id), isouter=whole_agency)
                 .where(Participant.agency_id == call.agency))
    if not include_sealed:  # a sealed participant (and a sealed case of an unsealed one) is not found (ADR 0083)
        statement = statement.where(unsealed(Participant.id, call.agency, "participant"),
                                    or_(CaseRecord.id.is_(None), unsealed(CaseRecord.id, call.agency, "case")))
    if not whole_agency:
        me = staff_for_subject(session, call.agency, call.actor)
        statement = statement.where(CaseRecord.case_manager_id == (me.id if me is not None and me.active else "-"))
    if query.name is not None:
        patterns = name_patterns(query.name)
        if patterns is None:
            return [], None
        start, word = patterns
        statement = statement.where(or_(Participant.search_key.like(start, escape="\\"),
                                        Participant.search_key.like(word, escape="\\")))
    if query.born is not None:
        statement = statement.where(Participant.date_of_birth == query.born)
    if query.case_status is not None:
        statement = statement.where(CaseRecord.state == query.case_status.value)
    rows, next_cursor = paginate(session, call, statement, order=(Participant.id,), key=lambda row: (row["id"],),
                                 scalars=False)
    return [ParticipantHit(id=row["id"], first_name=row["first_name"], last_name=row["last_name"],
                           date_of_birth=row["date_of_birth"], case_id=row["case_id"],
                           case_state=CaseState(row["state"]) if row["state"] else None,
                           case_manager_id=row["case_manager_id"]) for row in rows], next_cursor
