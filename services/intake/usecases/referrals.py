"""Reading referrals: one with its defendant, charges, screenings and duplicates, the lists, and re-screening.

Plain functions `(session, ...)`: they change rows in the caller's session (and hand events to `emit`, the
outbox), so the caller commits state, events and audit rows in one transaction.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, or_, select
from sqlalchemy.orm import Session

from services.intake.domain import decisions as rules
from services.intake.domain import review as review_rules
from services.intake.domain.decisions import ReferralStatus
from services.intake.domain.referral import Referral
from services.intake.domain.ruleset import (
    Ruleset,
)
from services.intake.domain.screening import Screening, screen
from services.intake.models import (
    ChargeRow,
    DecisionRow,
    DefendantRow,
    HistoryRow,
    ReferralRow,
    ScreeningRow,
)
from services.intake.usecases import review as queue
from services.intake.usecases.reports import day_start
from services.intake.usecases.submissions import Created, eligible_column, screening_row_values
from shared.records import unsealed

SEALED_KIND = "referral"  # the record class of a sealed referral in record_mark


def get_referral(session: Session, agency: str, referral_id: str, *, for_update: bool = False) -> ReferralRow | None:
    statement = select(ReferralRow).where(ReferralRow.agency_id == agency, ReferralRow.id == referral_id)
    if for_update:
        statement = statement.with_for_update()
    return session.scalar(statement)


def possible_duplicates(session: Session, row: ReferralRow, *, include_sealed: bool = False) -> list[dict[str, Any]]:
    """Other referrals of the agency for the same person (normalized name + DOB) or the same case number
    (sealed ones only for a records officer naming a legal basis)."""
    statement = select(ReferralRow.id, ReferralRow.status, ReferralRow.person_key, ReferralRow.case_key).where(
        ReferralRow.agency_id == row.agency_id, ReferralRow.id != row.id,
        or_(ReferralRow.person_key == row.person_key, ReferralRow.case_key == row.case_key))
    if not include_sealed:
        statement = statement.where(unsealed(ReferralRow.id, row.agency_id, SEALED_KIND))
    others = session.execute(
        statement
        .order_by(ReferralRow.received_at, ReferralRow.id)
        .limit(50)
    )
    out = []
    for other in others:
        reasons = []
        if other.person_key == row.person_key:
            reasons.append("same_person")
        if other.case_key == row.case_key:
            reasons.append("same_case_number")
        out.append({"referral_id": other.id, "status": other.status, "reasons": reasons})
    return out


def person_and_history(session: Session, referral_id: str) -> tuple[DefendantRow, HistoryRow]:
    """The referral's defendant and criminal history rows (one each): from the session when it holds both,
    else in one query."""
    person = _held(session, DefendantRow, referral_id)
    history = _held(session, HistoryRow, referral_id)
    if person is None or history is None:
        person, history = session.execute(
            select(DefendantRow, HistoryRow).join(HistoryRow, HistoryRow.referral_id == DefendantRow.referral_id)
            .where(DefendantRow.referral_id == referral_id)).tuples().one()
    return person, history


def _held(session: Session, model: Any, key: str) -> Any:
    """The row if the session holds it already (no query), else None."""
    return session.identity_map.get(session.identity_key(model, key))


def rebuild_referral(session: Session, row: ReferralRow) -> Referral:
    """The domain referral from its stored parts (for a rescreen)."""
    person = session.get(DefendantRow, row.id)
    history = session.get(HistoryRow, row.id)
    charges = session.scalars(select(ChargeRow).where(ChargeRow.referral_id == row.id)
                              .order_by(ChargeRow.position)).all()
    assert person is not None and history is not None
    return Referral.model_validate({
        "source": row.source, "case_number": row.case_number,
        "defendant": defendant_dict(person),
        "charges": [charge_dict(c) for c in charges],
        "history": history_dict(history),
    })


def history_dict(history: HistoryRow) -> dict[str, Any]:
    return {"convictions": history.convictions, "prior_diversions": history.prior_diversions,
            "pending_cases": history.pending_cases}


def defendant_dict(person: DefendantRow) -> dict[str, Any]:
    return {
        "first_name": person.first_name, "last_name": person.last_name, "date_of_birth": person.date_of_birth,
        "sex": person.sex, "race": person.race, "ethnicity": person.ethnicity, "phone": person.phone,
        "email": person.email, "address": person.address, "preferred_language": person.preferred_language,
    }


def charge_dict(charge: ChargeRow) -> dict[str, Any]:
    return {"statute": charge.statute, "description": charge.description, "offense_class": charge.offense_class,
            "offense_date": charge.offense_date, "violent": charge.violent}


@dataclass
class Known:
    """Parts of a referral the request already read or wrote in its session (None: `referral_document` reads
    them), so an answer does not read again what the use case has in hand."""

    defendant: dict[str, Any] | None = None
    history: dict[str, Any] | None = None
    charges: list[dict[str, Any]] | None = None
    screenings: list[dict[str, Any]] | None = None  # screening documents, oldest first
    decisions: list[dict[str, Any]] | None = None
    judgements: list[dict[str, Any]] | None = None


def referral_document(session: Session, row: ReferralRow, *, include_sealed: bool = False,
                      known: Known | None = None) -> dict[str, Any]:
    """Everything GET /v1/referrals/<id> shows, as plain data for `ReferralOut`."""
    known = known or Known()
    defendant, history = known.defendant, known.history
    if defendant is None or history is None:
        person, stored = person_and_history(session, row.id)
        defendant = defendant_dict(person) if defendant is None else defendant
        history = history_dict(stored) if history is None else history
    charges = known.charges
    if charges is None:
        charges = [charge_dict(c) for c in session.scalars(select(ChargeRow).where(ChargeRow.referral_id == row.id)
                                                           .order_by(ChargeRow.position))]
    screening_docs = known.screenings
    if screening_docs is None:
        screening_docs = [screening_doc(s) for s in screenings_of(session, row.id)]
    decisions = known.decisions
    if decisions is None:
        decisions = [decision_doc(d) for d in session.scalars(select(DecisionRow).where(
            DecisionRow.referral_id == row.id).order_by(DecisionRow.id))]
    judgements = known.judgements
    if judgements is None:
        judgements = [queue.judgement_doc(j) for j in queue.judgement_rows(session, row.id)]
    return {
        "id": row.id, "status": row.status, "version": row.version, "source": row.source,
        "case_number": row.case_number, "external_id": row.external_id, "received_at": row.received_at,
        "received_by": row.received_by, "defendant": defendant,
        "charges": charges,
        "history": history,
        "screening": screening_docs[-1], "screenings": screening_docs,
        "program": row.program, "deferred_until": row.deferred_until,
        "decisions": decisions,
        "disposition": row.disposition, "disposition_reason": row.disposition_reason,
        "disposed_at": row.disposed_at, "case_id": row.case_id,
        "possible_duplicates": possible_duplicates(session, row, include_sealed=include_sealed),
        **review_state(row),
        "judgements": judgements,
    }


def decision_doc(d: DecisionRow) -> dict[str, Any]:
    return {"action": d.kind, "program": d.program, "reason_code": d.reason_code, "note": d.note,
            "override": d.override, "deferred_until": d.deferred_until, "ruleset_version": d.ruleset_version,
            "decided_by": d.decided_by, "decided_at": d.decided_at}


def new_referral_document(session: Session, created: Created) -> tuple[ReferralRow, dict[str, Any]]:
    """A referral just stored by this session, and its document, from the rows written (the same values
    `referral_document` would read back) instead of reading them again: only the screening's id (the
    database's) and the possible duplicates (other referrals) are read."""
    stored = created.stored
    assert stored is not None, "store_screened keeps the rows it wrote"
    row = ReferralRow(**stored.referral)  # transient: never added to the session
    screening_id = session.execute(select(ScreeningRow.id).where(ScreeningRow.referral_id == created.id)
                                   .order_by(ScreeningRow.id)).scalars().one()
    values = stored.screening
    screening = {
        "id": screening_id, "trigger": values["trigger"], "ruleset_version": values["ruleset_version"],
        "ruleset_hash": values["ruleset_hash"], "screened_on": values["screened_on"],
        "screened_at": values["screened_at"], "screened_by": values["screened_by"],
        "recommendation": values["recommendation"],
        # The JSON text stored, parsed as a read parses it (the column's own json.loads).
        "programs": json.loads(values["result"]).get("programs", []),
    }
    person = stored.defendant
    known = Known(
        defendant={key: person[key] for key in _DEFENDANT_FIELDS},
        history={"convictions": stored.history["convictions"],
                 "prior_diversions": stored.history["prior_diversions"],
                 "pending_cases": stored.history["pending_cases"]},
        charges=[{key: c[key] for key in _CHARGE_FIELDS} for c in stored.charges],
        screenings=[screening], decisions=[], judgements=[],
    )
    return row, referral_document(session, row, known=known)


_DEFENDANT_FIELDS = ("first_name", "last_name", "date_of_birth", "sex", "race", "ethnicity", "phone", "email",
                     "address", "preferred_language")
_CHARGE_FIELDS = ("statute", "description", "offense_class", "offense_date", "violent")


def review_state(row: ReferralRow) -> dict[str, Any]:
    """What the list and the read show of the queue: never an overall "eligible" hiding a pending program."""
    return {
        "pending_review": [p for p in row.pending_programs.split(",") if p],
        "review_reasons": [r.value for r in review_rules.parse_reasons(row.review_reasons)],
        "review_since": row.review_since,
        "eligible_on": row.eligible_on,
    }


def screening_doc(row: ScreeningRow) -> dict[str, Any]:
    return {
        "id": row.id, "trigger": row.trigger, "ruleset_version": row.ruleset_version,
        "ruleset_hash": row.ruleset_hash, "screened_on": row.screened_on, "screened_at": row.screened_at,
        "screened_by": row.screened_by, "recommendation": row.recommendation,
        "programs": row.result.get("programs", []),
    }


def latest_screening(session: Session, referral_id: str) -> tuple[ScreeningRow, Screening]:
    row = session.scalar(select(ScreeningRow).where(ScreeningRow.referral_id == referral_id)
                         .order_by(ScreeningRow.id.desc()).limit(1))
    assert row is not None, "every referral is screened when it is stored"
    return row, Screening.model_validate(row.result)


def screenings_of(session: Session, referral_id: str) -> list[ScreeningRow]:
    """Every screening of the referral, oldest first (the last is the current one)."""
    return list(session.scalars(select(ScreeningRow).where(ScreeningRow.referral_id == referral_id)
                                .order_by(ScreeningRow.id)))


def rescreen(session: Session, row: ReferralRow, ruleset: Ruleset, actor: str, *, today: dt.date,
             now: dt.datetime) -> Screening:
    """Screen again under the current pack; the earlier screenings stay as they were (append-only)."""
    status = ReferralStatus(row.status)
    if status not in (ReferralStatus.SCREENED, ReferralStatus.DEFERRED):
        raise rules.InvalidTransition(f"a {status} referral is decided; it cannot be screened again")
    result = screen(rebuild_referral(session, row), ruleset, today)
    session.execute(insert(ScreeningRow), [screening_row_values(row.id, row.agency_id, result, "rescreen", actor, now)])
    row.recommendation = result.recommendation.value
    row.eligible_programs = eligible_column(result)
    queue.after_screening(row, result, now)
    row.version += 1
    row.updated_at = now
    return result


def list_referrals(session: Session, agency: str, *, status: str | None, program: str | None,
                   received_from: dt.date | None, received_to: dt.date | None,
                   after: tuple[dt.datetime, str] | None, limit: int,
                   include_sealed: bool = False) -> list[tuple[ReferralRow, DefendantRow]]:
    """Newest first, keyset-paginated on (received_at, id); sealed referrals left out unless `include_sealed`."""
    statement = (
        select(ReferralRow, DefendantRow)
        .join(DefendantRow, DefendantRow.referral_id == ReferralRow.id)
        .where(ReferralRow.agency_id == agency)
    )
    if not include_sealed:
        statement = statement.where(unsealed(ReferralRow.id, agency, SEALED_KIND))
    if status:
        statement = statement.where(ReferralRow.status == status)
    if program:
        statement = statement.where(or_(
            ReferralRow.program == program,
            (ReferralRow.program.is_(None)) & ReferralRow.eligible_programs.contains(f",{program},"),
        ))
    if received_from:
        statement = statement.where(ReferralRow.received_at >= day_start(received_from))
    if received_to:
        statement = statement.where(ReferralRow.received_at < day_start(received_to + dt.timedelta(days=1)))
    if after is not None:
        at, last_id = after
        statement = statement.where(or_(ReferralRow.received_at < at,
                                        (ReferralRow.received_at == at) & (ReferralRow.id < last_id)))
    statement = statement.order_by(ReferralRow.received_at.desc(), ReferralRow.id.desc()).limit(limit)
    return [(r, d) for r, d in session.execute(statement).tuples()]


def list_review_queue(session: Session, agency: str, *, program: str | None,
                      after: tuple[dt.datetime, str] | None, limit: int,
                      include_sealed: bool = False) -> list[tuple[ReferralRow, DefendantRow]]:
    """The screening desk's queue: referrals waiting for a person's judgement or decision, oldest first."""
    statement = (
        select(ReferralRow, DefendantRow)
        .join(DefendantRow, DefendantRow.referral_id == ReferralRow.id)
        .where(ReferralRow.agency_id == agency, ReferralRow.review_since.is_not(None),
               ReferralRow.status == ReferralStatus.SCREENED.value)
    )
    if not include_sealed:
        statement = statement.where(unsealed(ReferralRow.id, agency, SEALED_KIND))
    if program:
        statement = statement.where(or_(ReferralRow.pending_programs.contains(f",{program},"),
                                        ReferralRow.eligible_programs.contains(f",{program},")))
    if after is not None:
        since, last_id = after
        statement = statement.where(or_(ReferralRow.review_since > since,
                                        (ReferralRow.review_since == since) & (ReferralRow.id > last_id)))
    statement = statement.order_by(ReferralRow.review_since, ReferralRow.id).limit(limit)
    return [(r, d) for r, d in session.execute(statement).tuples()]
