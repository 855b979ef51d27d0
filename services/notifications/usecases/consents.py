"""Notifications' copy of casework's consents and the send-time check of partner deliveries (ADR 0070).

Each partner delivery names the consent it travels under and the categories it discloses (derived from its
projected body). When it is claimed for sending, not when it was queued, the copy is asked whether a valid
consent of the same person covers the recipient, the purpose and the categories today; if not, the delivery
is withheld with the reason and nothing is sent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.notifications.models import PartnerConsent
from shared.disclosure import ConsentSnapshot, snapshot_covers


def apply(session: Session, agency: str, data: Any, at: dt.datetime, *, revoked: bool = False,
          expired: bool = False) -> None:
    """Upsert the copy from consent.recorded / revoked / expired; a revocation or expiry is never undone."""
    row = session.get(PartnerConsent, data.consent_id, with_for_update=True)
    stale = row is not None and row.changed_at > at
    if row is None:
        try:
            with session.begin_nested():  # two events of one consent at once: the second waits on the first
                session.add(PartnerConsent(consent_id=data.consent_id, agency_id=agency, expired=False,
                                           changed_at=at, participant_id=data.participant_id,
                                           person_id=data.person_id, recipient_org_id=data.recipient_org_id,
                                           categories=[], purposes=[], valid=False))
        except IntegrityError:  # the other one inserted it: this one is applied over it, as to any row
            row = session.get_one(PartnerConsent, data.consent_id, with_for_update=True, populate_existing=True)
            stale = row.changed_at > at
        else:
            row = session.get_one(PartnerConsent, data.consent_id)
    if stale and not (revoked or expired):
        return  # an older recording arriving late
    row.participant_id, row.person_id = data.participant_id, data.person_id
    row.recipient_org_id = data.recipient_org_id
    row.categories, row.purposes = list(data.categories), list(data.purposes)
    row.valid, row.effective_on, row.expires_on = data.valid, data.effective_on, data.expires_on
    row.revoked_on = row.revoked_on or data.revoked_on
    row.expired = row.expired or expired
    row.changed_at = max(row.changed_at, at)


def _snapshot(row: PartnerConsent) -> ConsentSnapshot:
    return ConsentSnapshot(
        consent_id=row.consent_id, person_key=row.person_id, recipient_org_id=row.recipient_org_id,
        categories=frozenset(row.categories or []), purposes=frozenset(row.purposes or []), valid=row.valid,
        effective_on=row.effective_on, expires_on=row.expires_on, revoked_on=row.revoked_on, expired=row.expired)


def snapshots(session: Session, consent_ids: Iterable[str]) -> list[ConsentSnapshot]:
    """The named consents and every consent of the same persons (linked records' consents carry over)."""
    ids = sorted({c for c in consent_ids if c})
    if not ids:
        return []
    persons = select(PartnerConsent.person_id).where(PartnerConsent.consent_id.in_(ids)).scalar_subquery()
    rows = session.scalars(select(PartnerConsent).where(or_(PartnerConsent.consent_id.in_(ids),
                                                            PartnerConsent.person_id.in_(persons)))).all()
    return [_snapshot(r) for r in rows]


# casework's consent.recorded and resources' partner event travel on different queues: a delivery may be
# claimed before the copy knows its consent. It waits (and is tried again) for this long before it is withheld.
CONSENT_WAIT = dt.timedelta(minutes=5)
AWAIT_AGAIN = dt.timedelta(seconds=1)


def awaiting_consent(pool: list[ConsentSnapshot], rows: Iterable[Any], now: dt.datetime) -> set[str]:
    """Partner deliveries whose consent the copy does not know yet, still within `CONSENT_WAIT` of being
    queued: put back, not sent and not withheld."""
    known = {c.consent_id for c in pool}
    return {r.id for r in rows if r.purpose == "partner_event" and r.consent_id and r.consent_id not in known
            and r.created_at > now - CONSENT_WAIT}


def withheld_reason(pool: list[ConsentSnapshot], row: Any, today: dt.date) -> str | None:
    """None when the delivery may go now; else why it is withheld (a partner delivery naming no consent
    discloses nothing it may: withheld)."""
    if row.purpose != "partner_event":
        return None
    covered, _, reason = snapshot_covers(pool, row.consent_id, row.org_id or "", row.disclosure_purpose
                                         or "service_referral", row.disclosure_categories or [], today)
    return None if covered else f"no consent covers this disclosure now: {reason}"[:2000]
