"""Consent changes as events (ADR 0070): consent.recorded, consent.revoked and consent.expired, through the
outbox in the same transaction as the change, so every service that keeps a copy honours it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.casework.domain import consent as consent_rules
from services.casework.mapping import consent_domain
from services.casework.models import ConsentRecord, Participant
from services.casework.usecases import people
from services.casework.usecases.consents import case_disposed
from shared.messaging import Emit, new_event
from shared.messaging.catalog import ConsentExpired, ConsentRecorded, ConsentRevoked


def _person_key(session: Session, row: ConsentRecord) -> str:
    person = session.scalar(select(Participant).where(Participant.agency_id == row.agency_id,
                                                      Participant.id == row.participant_id))
    return people.person_of(person) if person is not None else row.participant_id


def _facts(session: Session, row: ConsentRecord) -> dict[str, Any]:
    domain = consent_domain(row)
    return {
        "consent_id": row.id, "participant_id": row.participant_id, "person_id": _person_key(session, row),
        "recipient_org_id": row.recipient_org_id, "categories": sorted(row.categories or []),
        "purposes": sorted(row.purposes or []), "kind": row.kind, "valid": not domain.missing_elements(),
        "effective_on": domain.effective_from, "expires_on": row.expires_on, "revoked_on": row.revoked_on,
    }


def recorded(session: Session, emit: Emit, row: ConsentRecord, now: dt.datetime) -> None:
    emit(new_event(ConsentRecorded(**_facts(session, row), recorded_at=now), subject=row.participant_id,
                   tenantid=row.agency_id))


def revoked(session: Session, emit: Emit, row: ConsentRecord, now: dt.datetime) -> None:
    emit(new_event(ConsentRevoked(**_facts(session, row), revoked_at=now), subject=row.participant_id,
                   tenantid=row.agency_id))


def republish(session: Session, emit: Emit, participant_ids: list[str], now: dt.datetime) -> int:
    """After a link or unlink, these records' consents travel again with the person key they have now."""
    session.flush()
    rows = list(session.scalars(select(ConsentRecord).where(ConsentRecord.participant_id.in_(participant_ids))))
    for row in rows:
        (revoked if row.revoked_on is not None else recorded)(session, emit, row, now)
    return len(rows)


def announce_expired(session: Session, emit: Emit, now: dt.datetime, batch: int = 200) -> int:
    """Publish consent.expired once for each valid, unrevoked consent past its date or event (the timer).

    The claim (`expiry_announced_at`) is written with the outbox row; SKIP LOCKED lets two replicas share
    the work without publishing one consent twice."""
    statement = (select(ConsentRecord).where(ConsentRecord.expiry_announced_at.is_(None),
                                             ConsentRecord.revoked_on.is_(None))
                 .order_by(ConsentRecord.created_at, ConsentRecord.id))
    if session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update(skip_locked=True)
    announced = 0
    for row in session.scalars(statement).all():
        domain = consent_domain(row)
        if domain.expires_on is None and domain.expiry_event is None and domain.kind is not \
                consent_rules.ConsentKind.CRIMINAL_JUSTICE:
            continue
        if consent_rules.expired_reason(domain, now.date(), case_disposed(session, row.agency_id,
                                                                          row.participant_id)) is None:
            continue
        row.expiry_announced_at = now
        emit(new_event(ConsentExpired(**_facts(session, row), expired_at=now), subject=row.participant_id,
                       tenantid=row.agency_id))
        announced += 1
        if announced >= batch:
            break
    return announced
