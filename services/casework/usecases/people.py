"""One person across cases (ADR 0071): participant records linked into one person, and undone.

Every case opens its own participant record (the minimum copied from `referral.accepted`). A person referred
again is the same person: intake's duplicate detection names the earlier referrals it matched
(`same_person_referral_ids`), or staff link the records. Linked records share `person_id` (the id of the
person's first record), so a consent of one is a consent of all and the accounting of disclosures covers all
of them. Each link and its undoing is a `participant_link` row (who, when, why, from what) and an audit entry.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from services.casework.models import CaseRecord, Participant, ParticipantLink
from services.casework.usecases.common import Missing

DUPLICATE_DETECTION = "duplicate_detection"
STAFF = "staff"


class LinkRefused(ValueError):
    """A link that cannot be made (a record linked to itself)."""


def person_of(person: Participant) -> str:
    """The id of the person a participant record is one of."""
    return person.person_id or person.id


def members(session: Session, agency: str, person: Participant) -> list[Participant]:
    """Every participant record of the same person (the record itself first, then by creation)."""
    root = person_of(person)
    rows = list(session.scalars(select(Participant).where(
        Participant.agency_id == agency, or_(Participant.id == root, Participant.person_id == root))
        .order_by(Participant.created_at, Participant.id)))
    return [person] + [r for r in rows if r.id != person.id]


def member_ids(session: Session, agency: str, person: Participant) -> list[str]:
    return [m.id for m in members(session, agency, person)]


def _age(person: Participant) -> tuple[dt.datetime, str]:
    return person.created_at, person.id


def _first_member(session: Session, agency: str, person: Participant) -> Participant:
    """The oldest record of `person`'s person (by creation, then id): the one whose id a link keeps."""
    root = person_of(person)
    first = session.scalar(select(Participant).where(
        Participant.agency_id == agency, or_(Participant.id == root, Participant.person_id == root))
        .order_by(Participant.created_at, Participant.id).limit(1))
    return person if first is None else min(first, person, key=_age)


def _open_link(session: Session, agency: str, participant_id: str) -> ParticipantLink | None:
    return session.scalar(select(ParticipantLink).where(
        ParticipantLink.agency_id == agency, ParticipantLink.participant_id == participant_id,
        ParticipantLink.unlinked_at.is_(None)).order_by(ParticipantLink.id.desc()))


def link(session: Session, agency: str, person: Participant, other: Participant, *, source: str, reason: str,
         by: str, now: dt.datetime) -> list[ParticipantLink]:
    """Make `person`'s records and `other`'s one person (the older person's id stays); the link rows made
    (none when they already were one)."""
    if person.id == other.id:
        raise LinkRefused("a participant record cannot be linked to itself")
    if person_of(person) == person_of(other):
        return []
    # Only the records that move are loaded: a person referred many times has many records, and the new case's
    # record (alone) joins them; of the staying side only its oldest record is needed (one row).
    first_mine, first_theirs = _first_member(session, agency, person), _first_member(session, agency, other)
    if _age(first_mine) <= _age(first_theirs):
        keep, moved = first_mine, members(session, agency, other)
    else:
        keep, moved = first_theirs, members(session, agency, person)
    root = keep.id
    made = []
    for record in moved:
        record.person_id = root
        made.append(ParticipantLink(agency_id=agency, participant_id=record.id, person_id=root, source=source,
                                    reason=reason, linked_by=by, linked_at=now))
    keep.person_id = None
    session.add_all(made)
    session.flush()
    return made


def unlink(session: Session, agency: str, person: Participant, *, reason: str, by: str,
           now: dt.datetime) -> list[str]:
    """Take this record out of its person (the others stay one person); the ids of records whose person
    changed (empty when it stood alone)."""
    group = members(session, agency, person)
    if len(group) == 1:
        return []
    others = [p for p in group if p.id != person.id]
    changed = [person.id]
    if person.person_id is None:  # the person's first record leaves: the next oldest carries the person on
        successor = min(others, key=lambda p: (p.created_at, p.id))
        successor.person_id = None
        changed.append(successor.id)
        for record in others:
            if record is not successor:
                record.person_id = successor.id
                changed.append(record.id)
    person.person_id = None
    for pid in changed:
        row = _open_link(session, agency, pid)
        if row is not None:
            row.unlinked_at, row.unlinked_by, row.unlink_reason = now, by, reason
    for record in others:  # a record re-pointed to the successor gets its new link on file
        if record.id in changed and record.person_id is not None:
            session.add(ParticipantLink(agency_id=agency, participant_id=record.id, person_id=record.person_id,
                                        source=STAFF, reason=f"carried over on unlinking {person.id}",
                                        linked_by=by, linked_at=now))
    session.flush()
    return changed


def link_history(session: Session, agency: str, ids: Iterable[str]) -> list[ParticipantLink]:
    return list(session.scalars(select(ParticipantLink).where(
        ParticipantLink.agency_id == agency, ParticipantLink.participant_id.in_(list(ids)))
        .order_by(ParticipantLink.linked_at, ParticipantLink.id)))


def matched_person(session: Session, agency: str, referral_ids: list[str]) -> Participant | None:
    """The participant record of the oldest case opened for one of the referrals intake matched."""
    if not referral_ids:
        return None
    return session.scalar(select(Participant).join(CaseRecord, CaseRecord.participant_id == Participant.id)
                          .where(CaseRecord.agency_id == agency, CaseRecord.referral_id.in_(referral_ids))
                          .order_by(Participant.created_at, Participant.id).limit(1))


def participant_of(session: Session, agency: str, participant_id: str) -> Participant:
    person = session.scalar(select(Participant).where(Participant.agency_id == agency,
                                                      Participant.id == participant_id))
    if person is None:
        raise Missing("no such participant")
    return person
