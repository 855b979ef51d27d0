"""42 CFR Part 2 consents of a participant, their revocation, and the consent check resources asks for."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.casework.domain import consent as consent_rules
from services.casework.domain import lifecycle
from services.casework.mapping import consent_domain, consent_row
from services.casework.models import CaseRecord, ConsentRecord, DisclosureLog, Participant
from services.casework.schemas import ConsentIn
from services.casework.usecases import disclosures, people
from services.casework.usecases.common import Missing


def case_disposed(session: Session, agency: str, participant_id: str) -> bool:
    states = set(session.scalars(select(CaseRecord.state).where(CaseRecord.agency_id == agency,
                                                                CaseRecord.participant_id == participant_id)))
    return bool(states) and all(lifecycle.CaseState(s) in lifecycle.TERMINAL_STATES for s in states)


def add_consent(session: Session, person: Participant, body: ConsentIn, *, agency: str, by: str,
                now: dt.datetime) -> ConsentRecord:
    """Record a consent (pydantic's ValidationError when its 2.31 elements do not hold together)."""
    domain = consent_rules.Consent(
        id=str(uuid.uuid4()), agency_id=agency, participant_id=person.id,
        participant_name=f"{person.first_name} {person.last_name}",
        **body.model_dump(exclude={"signature"}),
        signature=consent_rules.Signature.model_validate(body.signature.model_dump()) if body.signature else None,
    )
    row = consent_row(domain, created_at=now, created_by=by)
    session.add(row)
    return row


def list_consents(session: Session, participant_ids: str | list[str]) -> list[ConsentRecord]:
    """The consents of a participant record, or of every record of one person (ADR 0071), newest first."""
    ids = [participant_ids] if isinstance(participant_ids, str) else participant_ids
    return list(session.scalars(select(ConsentRecord).where(ConsentRecord.participant_id.in_(ids))
                                .order_by(ConsentRecord.created_at.desc(), ConsentRecord.id)))


def consent_of(session: Session, person: Participant, consent_id: str, *, lock: bool = False) -> ConsentRecord:
    """A consent of this person (any of their linked participant records)."""
    ids = people.member_ids(session, person.agency_id, person)
    statement = select(ConsentRecord).where(ConsentRecord.participant_id.in_(ids), ConsentRecord.id == consent_id)
    row = session.scalar(statement.with_for_update() if lock else statement)
    if row is None:
        raise Missing("no such consent")
    return row


def revoke(session: Session, row: ConsentRecord, *, agency: str, on: dt.date, by: str, method: str) -> bool:
    """Revoke the consent (the domain's RevocationDeferred when a 2.35 consent cannot be revoked yet);
    False when it was revoked before (nothing changed)."""
    revoked = consent_rules.revoke(consent_domain(row), on=on, by=by, method=method,
                                   case_disposed=case_disposed(session, agency, row.participant_id))
    if revoked.revoked_on == row.revoked_on:
        return False
    row.revoked_on, row.revoked_by, row.revocation_method = (revoked.revoked_on, revoked.revoked_by,
                                                             revoked.revocation_method)
    row.version += 1
    return True


@dataclass(frozen=True)
class ConsentCheck:
    """The answer to a consent check and what its audit entry records."""

    answer: dict[str, Any]
    covered: bool
    participant_id: str | None = None
    detail: dict[str, Any] | None = None


def _coverage(session: Session, agency: str, person: Participant, recipient_org: str,
              wanted: list[consent_rules.InfoCategory], goal: consent_rules.Purpose,
              day: dt.date) -> consent_rules.Coverage:
    """The coverage of the person's consents: each linked record's consents judged with its own case's
    disposition (ADR 0071); a covering one wins, else the answer about this record's own consents."""
    answers = []
    for member in people.members(session, agency, person):
        consents = [consent_domain(r) for r in session.scalars(
            select(ConsentRecord).where(ConsentRecord.participant_id == member.id))]
        coverage = consent_rules.covers(consents, member.id, recipient_org, wanted, goal, day,
                                        case_disposed(session, agency, member.id))
        if coverage.covered:
            return coverage
        answers.append(coverage)
    own = answers[0]
    if own.code is consent_rules.CoverageCode.NO_CONSENT:
        return next((a for a in answers if a.code is not consent_rules.CoverageCode.NO_CONSENT), own)
    return own


def check_consent(session: Session, *, agency: str, actor: str, participant_id: str, recipient_org: str,
                  categories: list[str], purpose: str, on_date: str, now: dt.datetime,
                  case_id: str | None = None, channel: str | None = None) -> ConsentCheck:
    """Does a valid consent cover this disclosure? A covered check is logged as a disclosure (ADR 0040);
    a refused request (invalid, unknown participant) has no `participant_id` and is not audited. A refused
    check that names its `channel` (resources' service referral) is a withheld disclosure in the accounting."""

    def refused(reason: str, consent_id: str | None = None) -> ConsentCheck:
        return ConsentCheck({"covered": False, "consent_id": consent_id, "reason": reason, "notice": ""}, False)

    try:
        day = dt.date.fromisoformat(on_date)
        wanted = [consent_rules.InfoCategory(c) for c in categories]
        goal = consent_rules.Purpose(purpose)
    except (ValueError, TypeError) as exc:
        return refused(f"invalid request: {exc}")
    if not wanted:
        return refused("a disclosure names at least one information category")
    person = session.scalar(select(Participant).where(Participant.agency_id == agency,
                                                      Participant.id == participant_id))
    if person is None:
        return refused(f"no participant {participant_id} in agency {agency}")
    coverage = _coverage(session, agency, person, recipient_org, wanted, goal, day)
    detail = {"recipient_org_id": recipient_org, "purpose": goal.value,
              "categories": sorted(c.value for c in wanted), "code": coverage.code.value}
    if coverage.covered:
        record = consent_rules.record_disclosure(
            coverage, disclosure_id=str(uuid.uuid4()), agency_id=agency, participant_id=person.id,
            recipient_org_id=recipient_org, categories=wanted, purpose=goal, at=now, by=actor)
        session.add(DisclosureLog(
            id=record.id, agency_id=agency, participant_id=person.id, consent_id=record.consent_id,
            recipient_org_id=recipient_org, categories=sorted(c.value for c in record.categories),
            purpose=goal.value, disclosed_at=record.disclosed_at, disclosed_by=actor, notice=record.notice))
    elif channel:
        disclosures.record_withheld(session, agency=agency, participant_id=person.id, case_id=case_id,
                                    channel=channel, recipient_org_id=recipient_org,
                                    categories=[c.value for c in wanted], purpose=goal.value,
                                    consent_id=coverage.consent_id, reason=coverage.reason or coverage.code.value,
                                    now=now)
    answer = {"covered": coverage.covered, "consent_id": coverage.consent_id, "reason": coverage.reason,
              "notice": coverage.notice or ""}
    return ConsentCheck(answer, coverage.covered, person.id, detail)
