"""The accounting of disclosures of a person (ADR 0071): what was disclosed to whom, when, which categories,
under which consent, and what was withheld.

The facts come from where disclosures happen: resources and notifications publish `disclosure.recorded`
(a service referral sent, a partner's read, a delivery made or withheld), which casework stores here; a
consent check casework refused for a service referral is recorded here directly. A notification delivery
does not know the participant: it is joined to the person through the service referral it carried.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import Session

from services.casework.models import DisclosureRecord
from shared.http import Call
from shared.http.pagination import paginate
from shared.messaging.catalog import DisclosureFacts

CSV_LIMIT = 10_000
CSV_FIELDS = ("occurred_at", "outcome", "channel", "recipient_org_id", "recipient_name", "categories", "purpose",
              "consent_id", "reason", "participant_id", "case_id", "service_referral_id", "source", "id")


def record_event(session: Session, agency: str, event_id: str, source: str, data: DisclosureFacts,
                 now: dt.datetime) -> bool:
    """Store one `disclosure.recorded` (False when this event is on file already)."""
    if session.get(DisclosureRecord, event_id) is not None:
        return False
    session.add(DisclosureRecord(
        id=event_id, agency_id=agency, participant_id=data.participant_id, case_id=data.case_id,
        service_referral_id=data.service_referral_id, recipient_org_id=data.recipient_org_id,
        recipient_name=data.recipient_name, channel=data.channel, categories=list(data.categories),
        purpose=data.purpose, consent_id=data.consent_id, outcome=data.outcome, reason=data.reason,
        source=source, occurred_at=data.occurred_at, recorded_at=now))
    session.flush()
    return True


def record_withheld(session: Session, *, agency: str, participant_id: str, case_id: str | None, channel: str,
                    recipient_org_id: str, categories: list[str], purpose: str, consent_id: str | None,
                    reason: str, now: dt.datetime) -> None:
    """A disclosure casework's consent check refused: nothing was sent, and the accounting says so."""
    session.add(DisclosureRecord(
        id=str(uuid.uuid4()), agency_id=agency, participant_id=participant_id, case_id=case_id,
        recipient_org_id=recipient_org_id, channel=channel, categories=sorted(categories), purpose=purpose,
        consent_id=consent_id, outcome="withheld", reason=reason[:300], source="casework", occurred_at=now,
        recorded_at=now))


def _of_people(agency: str, participant_ids: Sequence[str]) -> Select[tuple[DisclosureRecord]]:
    referrals = (select(DisclosureRecord.service_referral_id)
                 .where(DisclosureRecord.agency_id == agency, DisclosureRecord.participant_id.in_(participant_ids),
                        DisclosureRecord.service_referral_id.is_not(None)))
    return select(DisclosureRecord).where(
        DisclosureRecord.agency_id == agency,
        or_(DisclosureRecord.participant_id.in_(participant_ids),
            and_(DisclosureRecord.participant_id.is_(None), DisclosureRecord.service_referral_id.in_(referrals))))


def page(session: Session, call: Call, participant_ids: Sequence[str]) -> tuple[list[DisclosureRecord], str | None]:
    """A page of the person's disclosures, newest first."""
    return paginate(session, call, _of_people(call.agency, participant_ids),
                    order=(DisclosureRecord.occurred_at.desc(), DisclosureRecord.id.desc()),
                    key=lambda row: (row.occurred_at, row.id))


def everything(session: Session, agency: str, participant_ids: Sequence[str]) -> list[DisclosureRecord]:
    """All of the person's disclosures (at most CSV_LIMIT), oldest first, for an export."""
    statement = _of_people(agency, participant_ids).order_by(DisclosureRecord.occurred_at, DisclosureRecord.id)
    return list(session.scalars(statement.limit(CSV_LIMIT)))


def as_dicts(session: Session, agency: str, rows: Sequence[DisclosureRecord]) -> list[dict[str, Any]]:
    """The entries as the accounting shows them: a delivery notifications reported without the person gets
    the participant, case, categories and consent of its service referral's entry (read only, not stored)."""
    referral_ids = {r.service_referral_id for r in rows if r.participant_id is None and r.service_referral_id}
    known: dict[str, DisclosureRecord] = {}
    if referral_ids:
        for row in session.scalars(select(DisclosureRecord).where(
                DisclosureRecord.agency_id == agency, DisclosureRecord.service_referral_id.in_(referral_ids),
                DisclosureRecord.participant_id.is_not(None), DisclosureRecord.channel == "service_referral")):
            known.setdefault(str(row.service_referral_id), row)
    out = []
    for row in rows:
        item = {name: getattr(row, name) for name in CSV_FIELDS}
        origin = known.get(str(row.service_referral_id)) if row.participant_id is None else None
        if origin is not None:
            item.update(participant_id=origin.participant_id, case_id=origin.case_id,
                        categories=item["categories"] or list(origin.categories),
                        consent_id=item["consent_id"] or origin.consent_id)
        out.append(item)
    return out


def _cell(value: Any) -> str:
    """A CSV cell a spreadsheet shows as text (a leading = + - @ would be read as a formula)."""
    text = ";".join(map(str, value)) if isinstance(value, list) else "" if value is None else (
        value.isoformat() if isinstance(value, dt.datetime) else str(value))
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def to_csv(items: Sequence[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for item in items:
        writer.writerow([_cell(item[name]) for name in CSV_FIELDS])
    return buffer.getvalue()
