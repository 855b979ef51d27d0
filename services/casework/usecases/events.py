"""The events casework consumes: referral.accepted opens a case, service_referral.status_changed moves goals."""

from __future__ import annotations

import logging
import uuid
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.casework.domain.lifecycle import ProgramTerms, open_case
from services.casework.domain.plan import apply_service_referral_status
from services.casework.domain.search import search_key
from services.casework.models import CaseRecord, Participant, ParticipantLink, PlanReferralLink, PlanVersion
from services.casework.settings import CaseworkSettings
from services.casework.usecases import people
from services.casework.usecases.assignment import assign_automatically
from services.casework.usecases.common import EmitSlot, emit_data, utcnow
from services.casework.usecases.plans import current_plan, save_plan_revision
from shared.messaging import Emit
from shared.messaging.catalog import CaseOpened, ReferralAccepted
from shared.messaging.envelope import CloudEvent

log = logging.getLogger(__name__)


def _age_on(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def open_case_from_referral(
    session: Session, emit: Emit, event: CloudEvent[ReferralAccepted], settings: CaseworkSettings,
    now: datetime | None = None,
) -> CaseRecord:
    """Open exactly one case per (agency, referral): a case that exists already is returned unchanged."""
    data = event.data
    agency = event.tenantid
    existing = session.scalar(
        select(CaseRecord).where(CaseRecord.agency_id == agency, CaseRecord.referral_id == data.referral_id)
    )
    if existing is not None:
        log.info("referral %s already has case %s; nothing to do", data.referral_id, existing.id)
        return existing
    now = now or utcnow()
    program = ProgramTerms(program_id=data.program, min_months=data.min_months, max_months=data.max_months)
    person = data.participant
    demographics = person.demographics
    accepted_on = data.accepted_at.date()
    participant = Participant(
        id=str(uuid.uuid4()), agency_id=agency, first_name=person.first_name, last_name=person.last_name,
        date_of_birth=person.date_of_birth, phone=person.phone, email=str(person.email) if person.email else None,
        preferred_language=person.preferred_language,
        sex=demographics.sex if demographics else None,
        race=demographics.race if demographics else None,
        ethnicity=demographics.ethnicity if demographics else None,
        age_at_referral=(demographics.age_at_referral if demographics and demographics.age_at_referral is not None
                         else _age_on(person.date_of_birth, accepted_on)),
        created_at=now, search_key=search_key(person.first_name, person.last_name), staff_set_fields=[], version=1,
    )
    outcome = open_case(case_id=str(uuid.uuid4()), agency_id=agency, referral_id=data.referral_id,
                        participant_id=participant.id, program=program, opened_on=now.date(),
                        referred_on=accepted_on)
    case = outcome.case
    row = CaseRecord(
        id=case.id, agency_id=agency, referral_id=data.referral_id, case_number=data.case_number,
        participant_id=participant.id, program_id=program.program_id, min_months=program.min_months,
        max_months=program.max_months, state=case.state.value, referred_on=accepted_on, opened_on=case.opened_on,
        extensions=0, version=case.version, created_at=now, updated_at=now,
    )
    session.add(participant)
    session.flush()
    session.add(row)
    # A concurrent consumer that opened the same referral makes this flush fail on the unique key;
    # the event is retried and then finds the case above.
    session.flush()
    session.add(PlanVersion(agency_id=agency, case_id=row.id, version=1, goals=[], change="created",
                            updated_on=now.date(), updated_by="casework", created_at=now))
    # case.opened goes first in the outbox: consumers see the case before its assignment.
    opened_index = EmitSlot(emit)
    assigned = assign_automatically(session, opened_index.collect, row, settings, now)
    opened = CaseOpened(case_id=row.id, referral_id=row.referral_id, program=row.program_id, opened_at=now,
                        expected_end=row.expected_end_date, participant_id=participant.id,
                        state="active" if assigned else "pending_assignment")
    emit_data(emit, opened, subject=row.id, agency=agency)
    opened_index.flush()
    return row


def link_same_person(session: Session, event: CloudEvent[ReferralAccepted], case: CaseRecord,
                     now: datetime | None = None) -> list[ParticipantLink]:
    """A person intake matched to earlier referrals is the same person here: link the new case's participant
    record to the earlier case's (ADR 0071). The links made (none when there is no earlier case, or already)."""
    earlier = [r for r in event.data.same_person_referral_ids if r != case.referral_id]
    match = people.matched_person(session, event.tenantid, earlier)
    person = session.get(Participant, case.participant_id)
    if match is None or person is None or match.id == person.id:
        return []
    return people.link(session, event.tenantid, person, match, source=people.DUPLICATE_DETECTION,
                       reason=f"intake matched referral {event.data.referral_id} to {', '.join(earlier)[:1500]}",
                       by="service:casework", now=now or utcnow())


def apply_referral_status(
    session: Session, emit: Emit, agency: str, service_referral_id: str, status: str,
    case_id: str | None = None, now: datetime | None = None,
) -> list[str]:
    """Move the goals linked to a service referral; the ids of the cases whose plan changed.

    `status` is one of the catalog's statuses: an event with any other value fails the catalog's schema and
    is dead-lettered before it reaches the handler.
    """
    now = now or utcnow()
    statement = select(PlanReferralLink.case_id).where(
        PlanReferralLink.agency_id == agency, PlanReferralLink.service_referral_id == service_referral_id)
    case_ids = set(session.scalars(statement))
    if case_id:
        case_ids.add(case_id)
    changed = []
    for cid in sorted(case_ids):
        case = session.scalar(select(CaseRecord).where(CaseRecord.agency_id == agency, CaseRecord.id == cid)
                              .with_for_update())
        if case is None:
            continue
        revision = apply_service_referral_status(current_plan(session, case), service_referral_id, status,
                                                 on=now.date())
        if revision is not None:
            save_plan_revision(session, emit, case, revision, now)
            changed.append(cid)
    return changed
