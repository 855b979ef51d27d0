"""Rows for the screening report (aggregated and suppressed by the domain).

Plain functions `(session, ...)`: they change rows in the caller's session (and hand events to `emit`, the
outbox), so the caller commits state, events and audit rows in one transaction.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.intake.domain.decisions import ReferralStatus
from services.intake.domain.referral import age_on
from services.intake.domain.report import ReportRow, age_band
from services.intake.domain.screening import ScreeningStatus
from services.intake.models import (
    DefendantRow,
    ReferralRow,
    ScreeningRow,
)


def day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


def report_rows(session: Session, agency: str, date_from: dt.date | None,
                date_to: dt.date | None) -> tuple[list[ReportRow], int]:
    """One row per (referral, screened program) from each referral's current screening; and the referral count."""
    latest = (
        select(func.max(ScreeningRow.id).label("id"))
        .where(ScreeningRow.agency_id == agency)
        .group_by(ScreeningRow.referral_id)
        .subquery()
    )
    statement = (
        select(ReferralRow.status, ReferralRow.program, ReferralRow.offense_date, DefendantRow.date_of_birth,
               DefendantRow.sex, DefendantRow.race, DefendantRow.ethnicity, ScreeningRow.result)
        .join(DefendantRow, DefendantRow.referral_id == ReferralRow.id)
        .join(ScreeningRow, ScreeningRow.referral_id == ReferralRow.id)
        .join(latest, latest.c.id == ScreeningRow.id)
        .where(ReferralRow.agency_id == agency)
    )
    if date_from:
        statement = statement.where(ReferralRow.received_at >= day_start(date_from))
    if date_to:
        statement = statement.where(ReferralRow.received_at < day_start(date_to + dt.timedelta(days=1)))
    rows: list[ReportRow] = []
    referrals = 0
    accepted_states = {ReferralStatus.ACCEPTED.value, ReferralStatus.DISPOSED.value, ReferralStatus.WITHDRAWN.value}
    for r in session.execute(statement):
        referrals += 1
        band = age_band(age_on(r.date_of_birth, r.offense_date))
        accepted = r.program if r.status in accepted_states else None
        for program in r.result.get("programs", []):
            rows.append(ReportRow(
                program=program["program"], race=r.race, ethnicity=r.ethnicity, sex=r.sex, age_band=band,
                screened_eligible=program["status"] == ScreeningStatus.ELIGIBLE.value,
                accepted=program["program"] == accepted,
            ))
    return rows, referrals
