"""Which earlier referrals are the same person, for casework to keep one person across cases (ADR 0071)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.intake.models import JudgementRow, ReferralRow

LIMIT = 50


def same_person_referral_ids(session: Session, row: ReferralRow) -> list[str]:
    """Earlier referrals of the agency with this referral's person key (duplicate detection: normalized name
    and date of birth), oldest first; none when a screener's latest duplicate judgement said "not_duplicate"."""
    judged = session.scalar(select(JudgementRow.outcome).where(
        JudgementRow.referral_id == row.id, JudgementRow.kind == "duplicate").order_by(JudgementRow.id.desc()))
    if judged == "not_duplicate" or not row.person_key:
        return []
    return list(session.scalars(
        select(ReferralRow.id).where(ReferralRow.agency_id == row.agency_id, ReferralRow.id != row.id,
                                     ReferralRow.person_key == row.person_key)
        .order_by(ReferralRow.received_at, ReferralRow.id).limit(LIMIT)))
