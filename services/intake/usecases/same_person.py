"""Which earlier referrals are the same person, for casework to keep one person across cases (ADR 0071)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.intake.models import JudgementRow, ReferralRow

LIMIT = 50


def same_person_referral_ids(session: Session, row: ReferralRow,
                             judgements: Sequence[JudgementRow] | None = None) -> list[str]:
    """Earlier referrals of the agency with this referral's person key (duplicate detection: normalized name
    and date of birth), oldest first; none when a screener's latest duplicate judgement said "not_duplicate".
    `judgements`: the referral's judgements in order, when the caller has read them already."""
    if judgements is None:
        judged = session.scalar(select(JudgementRow.outcome).where(
            JudgementRow.referral_id == row.id, JudgementRow.kind == "duplicate").order_by(JudgementRow.id.desc()))
    else:
        judged = next((j.outcome for j in reversed(judgements) if j.kind == "duplicate"), None)
    if judged == "not_duplicate" or not row.person_key:
        return []
    return list(session.scalars(
        select(ReferralRow.id).where(ReferralRow.agency_id == row.agency_id, ReferralRow.id != row.id,
                                     ReferralRow.person_key == row.person_key)
        .order_by(ReferralRow.received_at, ReferralRow.id).limit(LIMIT)))
