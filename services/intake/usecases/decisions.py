"""The prosecutor's decision on a screened referral and what casework tells intake afterwards (case opened,
disposition, withdrawal).

Plain functions `(session, ...)`: they change rows in the caller's session (and hand events to `emit`, the
outbox), so the caller commits state, events and audit rows in one transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.intake.domain import decisions as rules
from services.intake.domain.decisions import Actor, Decision, DecisionKind, Disposition, ReferralStatus
from services.intake.domain.referral import age_on
from services.intake.domain.screening import Screening
from services.intake.models import (
    ChargeRow,
    DecisionRow,
    JudgementRow,
    ReferralRow,
)
from services.intake.schemas import (
    AcceptIn,
    DeclineIn,
    DeferIn,
)
from services.intake.usecases import review as queue
from services.intake.usecases.referrals import (
    Known,
    defendant_dict,
    get_referral,
    history_dict,
    person_and_history,
    screening_doc,
    screenings_of,
)
from services.intake.usecases.rulesets import current_ruleset, ruleset_for_screening
from services.intake.usecases.same_person import same_person_referral_ids
from shared.messaging import CloudEvent, Emit, new_event
from shared.messaging.catalog import (
    ChargeRecord,
    Demographics,
    Participant,
    ReferralAccepted,
    ReferralDeclined,
    ReferralDeferred,
    ReferralDisposed,
)

log = logging.getLogger(__name__)


def decide(
    session: Session,
    emit: Emit,
    row: ReferralRow,
    body: AcceptIn | DeclineIn | DeferIn,
    actor: Actor,
    *,
    today: dt.date,
    now: dt.datetime,
    known: Known | None = None,
) -> Decision:
    """Apply a decision to a locked referral row, record it, and publish accepted / declined. `known` collects
    what was read on the way (the screenings, the judgements), for the answer."""
    status = ReferralStatus(row.status)
    screenings = screenings_of(session, row.id)
    assert screenings, "every referral is screened when it is stored"
    screening_row = screenings[-1]
    screening = Screening.model_validate(screening_row.result)
    if known is not None:
        known.screenings = [screening_doc(s) for s in screenings]
    decision: Decision
    if isinstance(body, AcceptIn):
        ruleset = ruleset_for_screening(session, row.agency_id, screening.ruleset_version, screening.ruleset_hash)
        decision = rules.accept(status=status, screening=screening, ruleset=ruleset, program=body.program,
                                actor=actor, note=body.note, override=body.override)
        row.program = decision.program
        row.deferred_until = None
    elif isinstance(body, DeclineIn):
        ruleset = current_ruleset(session, row.agency_id)[0]
        decision = rules.decline(status=status, ruleset=ruleset, reason_code=body.reason_code, actor=actor,
                                 note=body.note)
        row.deferred_until = None
    else:
        ruleset = current_ruleset(session, row.agency_id)[0]
        decision = rules.defer(status=status, ruleset=ruleset, until=body.until, reason_code=body.reason_code,
                               today=today, actor=actor, note=body.note)
        row.deferred_until = decision.deferred_until
    queue.after_decision(row, decision)
    row.status = decision.status.value
    row.version += 1
    row.updated_at = now
    session.add(DecisionRow(
        referral_id=row.id, agency_id=row.agency_id, kind=decision.kind.value, program=decision.program,
        reason_code=decision.reason_code, note=decision.note, override=decision.override,
        deferred_until=decision.deferred_until, screening_id=screening_row.id,
        ruleset_version=decision.ruleset_version, decided_by=decision.decided_by, decided_at=now,
    ))
    if decision.kind is DecisionKind.ACCEPT:
        assert decision.program is not None
        program = ruleset.program(decision.program)
        assert program is not None  # accept() checked it
        judgements = queue.judgement_rows(session, row.id)
        if known is not None:
            known.judgements = [queue.judgement_doc(j) for j in judgements]
        emit(new_event(accepted_event(session, row, decision.program, program.min_months, program.max_months,
                                      decision.decided_by, now, judgements=judgements, known=known),
                       subject=row.id, tenantid=row.agency_id))
    elif decision.kind is DecisionKind.DECLINE:
        emit(new_event(ReferralDeclined(referral_id=row.id, case_number=row.case_number,
                                        reason=decision.reason_code or "", declined_at=now,
                                        decided_by=decision.decided_by),
                       subject=row.id, tenantid=row.agency_id))
    else:
        assert decision.deferred_until is not None and decision.reason_code is not None
        emit(new_event(ReferralDeferred(referral_id=row.id, case_number=row.case_number,
                                        reason_code=decision.reason_code, deferred_until=decision.deferred_until,
                                        deferred_at=now, decided_by=decision.decided_by),
                       subject=row.id, tenantid=row.agency_id))
    return decision


def accepted_event(session: Session, row: ReferralRow, program: str, min_months: int, max_months: int,
                   decided_by: str, now: dt.datetime,
                   judgements: Sequence[JudgementRow] | None = None, known: Known | None = None) -> ReferralAccepted:
    person, history = person_and_history(session, row.id)  # the history too: the answer shows it
    if known is not None:  # kept for the answer: the session holds its rows only while someone refers to them
        known.defendant, known.history = defendant_dict(person), history_dict(history)
    demographics = Demographics(
        sex=person.sex, race=person.race, ethnicity=person.ethnicity,
        age_at_referral=age_on(person.date_of_birth, row.received_at.date()),
    )
    participant = Participant(
        first_name=person.first_name, last_name=person.last_name, date_of_birth=person.date_of_birth,
        phone=person.phone, email=person.email, preferred_language=person.preferred_language,
        demographics=demographics,
    )
    return ReferralAccepted(
        referral_id=row.id, case_number=row.case_number, program=program, min_months=min_months,
        max_months=max_months, participant=participant, accepted_at=now, decided_by=decided_by,
        same_person_referral_ids=same_person_referral_ids(session, row, judgements),
    )


def record_disposition(session: Session, agency: str, referral_id: str, disposition: Disposition | str,
                       *, case_id: str, at: dt.datetime, reason: str | None = None,
                       emit: Emit | None = None) -> bool:
    """Close an accepted referral with its case's outcome. False (and a log line) when there is nothing to do.

    An unknown referral or one already closed cannot be fixed by retrying, so the event is not retried.
    """
    row = get_referral(session, agency, referral_id, for_update=True)
    if row is None:
        log.warning("disposition for unknown referral %s of %s ignored", referral_id, agency)
        return False
    try:
        checked = rules.dispose(ReferralStatus(row.status), disposition)
    except rules.DecisionError as exc:
        log.warning("disposition for referral %s ignored: %s", referral_id, exc)
        return False
    row.status = ReferralStatus.DISPOSED.value
    row.disposition = checked.value
    row.disposition_reason = reason
    row.disposed_at = at
    row.case_id = case_id
    row.version += 1
    row.updated_at = dt.datetime.now(dt.UTC)
    if emit is not None:
        emit(disposed_event(session, row, checked.value))
    return True


def disposed_event(session: Session, row: ReferralRow, disposition: str) -> CloudEvent:
    """`referral.disposed`: the prosecution record's fields, for the agency's own case management system."""
    charges = session.scalars(select(ChargeRow).where(ChargeRow.referral_id == row.id)
                              .order_by(ChargeRow.position)).all()
    data = ReferralDisposed(
        referral_id=row.id, case_number=row.case_number, case_id=row.case_id, program=row.program,
        disposition=disposition,  # checked by the domain before
        reason=row.disposition_reason, disposed_at=row.disposed_at or row.updated_at,
        charges=[ChargeRecord(statute=c.statute, description=c.description, offense_class=c.offense_class,
                              offense_date=c.offense_date) for c in charges],
    )
    return new_event(data, subject=row.id, tenantid=row.agency_id)


def record_case_opened(session: Session, agency: str, referral_id: str, case_id: str) -> bool:
    """casework opened the referral's case: intake keeps its id (before the disposition, not only with it)."""
    row = get_referral(session, agency, referral_id, for_update=True)
    if row is None:
        log.warning("case.opened for unknown referral %s of %s ignored", referral_id, agency)
        return False
    if row.case_id == case_id:
        return False
    row.case_id = case_id
    row.version += 1
    row.updated_at = dt.datetime.now(dt.UTC)
    return True


def record_withdrawal(session: Session, emit: Emit, agency: str, referral_id: str, *, case_id: str,
                      at: dt.datetime, reason: str | None) -> bool:
    """The referral's case was withdrawn: the referral shows withdrawn and the agency's system is told."""
    row = get_referral(session, agency, referral_id, for_update=True)
    if row is None:
        log.warning("case.withdrawn for unknown referral %s of %s ignored", referral_id, agency)
        return False
    try:
        row.status = rules.withdraw(ReferralStatus(row.status)).value
    except rules.DecisionError as exc:
        log.warning("withdrawal of referral %s ignored: %s", referral_id, exc)
        return False
    row.disposition_reason = (reason or "")[:40] or None
    row.disposed_at = at
    row.case_id = case_id
    row.version += 1
    row.updated_at = dt.datetime.now(dt.UTC)
    emit(disposed_event(session, row, "withdrawn"))
    return True
