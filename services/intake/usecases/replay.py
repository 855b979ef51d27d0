"""intake's service layer for what-if replay: a pack version over a date range of referrals, nothing changed.

Reads in chunks (one query per table per chunk, keyset on (received_at, id)) so a quarter of referrals is
never held in memory at once; the caller's session is only read from and is rolled back by the caller.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from services.intake.domain.referral import Referral, age_on
from services.intake.domain.replay import Person, ReplayReport, Tally, compare
from services.intake.domain.ruleset import Ruleset, ruleset_from_mapping
from services.intake.domain.screening import Screening, screen
from services.intake.models import ChargeRow, DefendantRow, HistoryRow, ReferralRow, RulesetRow, ScreeningRow
from services.intake.usecases.referrals import charge_dict, defendant_dict, history_dict
from services.intake.usecases.rulesets import bundled_ruleset

CHUNK = 500
Progress = Callable[[int, int], None]  # (done, total)


class RulesetVersionNotFound(Exception):
    """No pack of this version is installed (or bundled) for the agency."""


def pack_version(session: Session, agency: str, version: str) -> Ruleset:
    """The agency's pack of exactly this version: installed, else the bundled one if it has that version."""
    pack = session.scalar(select(RulesetRow.pack).where(RulesetRow.agency_id == agency,
                                                        RulesetRow.version == version))
    if pack is not None:
        return ruleset_from_mapping(pack, source=f"ruleset {version} of {agency}")
    bundled = bundled_ruleset(agency)
    if bundled is not None and bundled.version == version:
        return bundled
    raise RulesetVersionNotFound(f"{agency} has no ruleset pack version {version!r}; see GET /v1/ruleset and "
                                 "install it with POST /v1/rulesets first")


def _in_range(date_from: dt.date | None, date_to: dt.date | None) -> list[Any]:
    conditions: list[Any] = []
    if date_from:
        conditions.append(ReferralRow.received_at >= dt.datetime.combine(date_from, dt.time.min, tzinfo=dt.UTC))
    if date_to:
        conditions.append(ReferralRow.received_at < dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time.min,
                                                                        tzinfo=dt.UTC))
    return conditions


def count_referrals(session: Session, agency: str, date_from: dt.date | None, date_to: dt.date | None) -> int:
    return int(session.scalar(select(func.count()).select_from(ReferralRow).where(
        ReferralRow.agency_id == agency, *_in_range(date_from, date_to))) or 0)


def _chunks(session: Session, agency: str, date_from: dt.date | None,
            date_to: dt.date | None) -> Iterator[list[ReferralRow]]:
    after: tuple[dt.datetime, str] | None = None
    while True:
        statement = select(ReferralRow).where(ReferralRow.agency_id == agency, *_in_range(date_from, date_to))
        if after is not None:
            statement = statement.where(or_(ReferralRow.received_at > after[0],
                                            and_(ReferralRow.received_at == after[0], ReferralRow.id > after[1])))
        rows = list(session.scalars(statement.order_by(ReferralRow.received_at, ReferralRow.id).limit(CHUNK)))
        if not rows:
            return
        yield rows
        after = (rows[-1].received_at, rows[-1].id)
        session.expunge_all()  # keep the identity map (and memory) flat across chunks


def _referrals(session: Session, rows: list[ReferralRow]) -> Iterator[tuple[ReferralRow, Referral, Screening,
                                                                             DefendantRow]]:
    """Each row with its rebuilt referral and its current screening: four queries for the whole chunk."""
    ids = [row.id for row in rows]
    people = {d.referral_id: d for d in session.scalars(select(DefendantRow).where(DefendantRow.referral_id.in_(ids)))}
    histories = {x.referral_id: x for x in session.scalars(select(HistoryRow).where(HistoryRow.referral_id.in_(ids)))}
    charges: dict[str, list[ChargeRow]] = {}
    for charge in session.scalars(select(ChargeRow).where(ChargeRow.referral_id.in_(ids))
                                  .order_by(ChargeRow.referral_id, ChargeRow.position)):
        charges.setdefault(charge.referral_id, []).append(charge)
    latest = (select(func.max(ScreeningRow.id)).where(ScreeningRow.referral_id.in_(ids))
              .group_by(ScreeningRow.referral_id))
    screenings = {s.referral_id: s for s in session.scalars(select(ScreeningRow).where(ScreeningRow.id.in_(latest)))}
    for row in rows:
        person, history = people[row.id], histories[row.id]
        referral = Referral.model_validate({
            "source": row.source, "case_number": row.case_number,
            "defendant": defendant_dict(person),
            "charges": [charge_dict(c) for c in charges.get(row.id, [])],
            "history": history_dict(history),
        })
        yield row, referral, Screening.model_validate(screenings[row.id].result), person


def replay(session: Session, agency: str, version: str, date_from: dt.date | None, date_to: dt.date | None,
           *, progress: Progress | None = None) -> ReplayReport:
    """Screen the range's referrals under `version` and compare with their current screenings. Reads only."""
    ruleset = pack_version(session, agency, version)
    total = count_referrals(session, agency, date_from, date_to) if progress else 0
    tally, done = Tally(), 0
    for rows in _chunks(session, agency, date_from, date_to):
        for row, referral, current, person in _referrals(session, rows):
            replayed = screen(referral, ruleset, current.screened_on)
            tally.add(Person(race=person.race, ethnicity=person.ethnicity, sex=person.sex,
                             age=age_on(person.date_of_birth, row.offense_date)), compare(current, replayed))
        done += len(rows)
        if progress:
            progress(done, total)
    return tally.report(version)
