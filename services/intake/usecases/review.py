"""intake's service layer for the screening desk: the review queue, judgements, and dates that come back.

Plain functions `(session, ...)` like the other use cases; the rules are in `domain/review.py`. The caller commits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import and_, insert, literal, or_, select, union_all
from sqlalchemy.orm import Session

from services.intake.domain import decisions as rules
from services.intake.domain import review
from services.intake.domain.decisions import Actor, ReferralStatus
from services.intake.domain.review import ReviewReason
from services.intake.domain.ruleset import Ruleset
from services.intake.domain.screening import Screening, screen
from services.intake.models import JudgementRow, ReferralRow, ScreeningRow
from shared.messaging import Emit, new_event
from shared.messaging.catalog import ReferralReviewDue


def _column(programs: Iterable[str]) -> str:
    return "," + "".join(f"{p}," for p in programs)


def review_columns(screening: Screening, *, possible_duplicate: bool, now: dt.datetime,
                   carried: Iterable[ReviewReason] = (), since: dt.datetime | None = None) -> dict[str, Any]:
    """The referral row's review columns after a screening (for an insert or an update)."""
    reasons = review.reasons_after_screening(screening, possible_duplicate=possible_duplicate,
                                             carried=frozenset(carried))
    return {
        "review_reasons": review.reasons_column(reasons),
        "review_since": (since or now) if reasons else None,
        "pending_programs": _column(review.pending_programs(screening)),
        "eligible_on": review.earliest_eligible_on(screening),
    }


def apply_review_columns(row: ReferralRow, values: dict[str, Any]) -> None:
    for name, value in values.items():
        setattr(row, name, value)


def after_screening(row: ReferralRow, screening: Screening, now: dt.datetime) -> None:
    """A rescreen or a judgement made a new screening: the queue follows it, other reasons are kept."""
    carried = review.parse_reasons(row.review_reasons)
    since = row.review_since
    values = review_columns(screening, possible_duplicate=ReviewReason.POSSIBLE_DUPLICATE in carried, now=now,
                            carried=carried, since=since)
    if ReferralStatus(row.status) is not ReferralStatus.SCREENED:
        values["review_reasons"], values["review_since"] = "", None  # decided (deferred): out of the queue
    apply_review_columns(row, values)


def after_decision(row: ReferralRow, decision: rules.Decision) -> None:
    """A decision takes the referral out of the queue; a deferral keeps its eligibility date (it may come
    back earlier), accept and decline drop it."""
    row.review_reasons, row.review_since = "", None
    if decision.kind is not rules.DecisionKind.DEFER:
        row.eligible_on = None


def possible_duplicate_keys(session: Session, agency: str, person_keys: Iterable[str],
                            case_keys: Iterable[str]) -> tuple[set[str], set[str]]:
    """Which of these person / case keys an earlier referral of the agency already has (one query, a row per
    key found: a person referred a thousand times is one row, not a thousand)."""
    persons, cases = set(person_keys), set(case_keys)
    if not persons and not cases:
        return set(), set()
    by_person = (select(literal("p").label("kind"), ReferralRow.person_key.label("key"))
                 .where(ReferralRow.agency_id == agency, ReferralRow.person_key.in_(persons))
                 .group_by(ReferralRow.person_key))
    by_case = (select(literal("c").label("kind"), ReferralRow.case_key.label("key"))
               .where(ReferralRow.agency_id == agency, ReferralRow.case_key.in_(cases))
               .group_by(ReferralRow.case_key))
    found = session.execute(union_all(by_person, by_case)).all()
    return ({r.key for r in found if r.kind == "p"} & persons, {r.key for r in found if r.kind == "c"} & cases)


def record_judgement(session: Session, row: ReferralRow, body: Any, actor: Actor, *, today: dt.date,
                     now: dt.datetime) -> JudgementRow:
    """A screener's judgement on a program (a new screening is stored) or on a possible duplicate."""
    from services.intake.usecases.referrals import latest_screening
    from services.intake.usecases.submissions import screening_row_values

    status = ReferralStatus(row.status)
    if status not in review.QUEUE_STATUSES:
        raise rules.InvalidTransition(f"a {status} referral is decided; judgements are made before the decision")
    screening_id: int | None = None
    if body.kind == "program":
        _, current = latest_screening(session, row.id)
        judged = review.judge_program(current, body.program, body.outcome, body.reason, actor, today)
        screening_id = session.execute(
            insert(ScreeningRow).returning(ScreeningRow.id),
            [screening_row_values(row.id, row.agency_id, judged, "judgement", actor.subject, now)],
        ).scalar_one()
        row.recommendation = judged.recommendation.value
        row.eligible_programs = _column(judged.eligible_programs)
        after_screening(row, judged, now)
        program = body.program
    else:
        reasons = review.review_duplicate(review.parse_reasons(row.review_reasons), actor, body.reason)
        row.review_reasons = review.reasons_column(reasons)
        row.review_since = row.review_since if reasons else None
        program = None
    judgement = JudgementRow(referral_id=row.id, agency_id=row.agency_id, kind=body.kind, program=program,
                             outcome=body.outcome, reason=body.reason.strip(), screening_id=screening_id,
                             judged_by=actor.subject, judged_at=now)
    session.add(judgement)
    row.version += 1
    row.updated_at = now
    return judgement


def judgement_rows(session: Session, referral_id: str) -> list[JudgementRow]:
    """The referral's judgements, in order."""
    return list(session.scalars(select(JudgementRow).where(JudgementRow.referral_id == referral_id)
                                .order_by(JudgementRow.id)))


def judgement_doc(j: JudgementRow) -> dict[str, Any]:
    return {"kind": j.kind, "program": j.program, "outcome": j.outcome, "reason": j.reason,
            "screening_id": j.screening_id, "judged_by": j.judged_by, "judged_at": j.judged_at}


def return_due(session: Session, emit: Emit, ruleset_for: Callable[[str], Ruleset], *, today: dt.date,
               now: dt.datetime, limit: int = 200) -> list[ReferralRow]:
    """Deferred referrals whose date has come, and referrals whose eligibility date has arrived, back to the
    review queue (each once: rows are claimed with SKIP LOCKED, so several instances share the work).

    A referral whose eligibility date came is screened again under the agency's current pack first: time was
    what stood in its way. Each return publishes `referral.review_due`.
    """
    due_statuses = [ReferralStatus.SCREENED.value, ReferralStatus.DEFERRED.value]
    statement = (
        select(ReferralRow)
        .where(or_(
            and_(ReferralRow.status == ReferralStatus.DEFERRED.value, ReferralRow.deferred_until <= today),
            and_(ReferralRow.status.in_(due_statuses), ReferralRow.eligible_on <= today),
        ))
        .order_by(ReferralRow.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    returned = []
    for row in session.scalars(statement).all():
        reasons = review.due_back(ReferralStatus(row.status), deferred_until=row.deferred_until,
                                  eligible_on=row.eligible_on, today=today)
        if not reasons:
            continue
        due_on = min(d for d in (row.deferred_until, row.eligible_on) if d is not None and d <= today)
        row.status = rules.return_for_review(ReferralStatus(row.status)).value
        if ReviewReason.DEFERRAL_ENDED in reasons:
            row.deferred_until = None
        screening: Screening | None = None
        if ReviewReason.ELIGIBLE_ON_REACHED in reasons:
            screening = _rescreen_for_date(session, row, ruleset_for(row.agency_id), today, now)
        carried = [*review.parse_reasons(row.review_reasons), *reasons]
        if screening is None:
            from services.intake.usecases.referrals import latest_screening

            screening = latest_screening(session, row.id)[1]
        values = review_columns(screening, possible_duplicate=ReviewReason.POSSIBLE_DUPLICATE in carried, now=now,
                                carried=carried, since=row.review_since)
        if values["eligible_on"] is not None and values["eligible_on"] <= today:
            values["eligible_on"] = None  # a plugin that keeps naming a past day must not bring it back daily
        apply_review_columns(row, values)
        row.version += 1
        row.updated_at = now
        emit(new_event(ReferralReviewDue(referral_id=row.id, reasons=[r.value for r in reasons],
                                         due_on=due_on, queued_at=now),
                       subject=row.id, tenantid=row.agency_id))
        returned.append(row)
    return returned


def _rescreen_for_date(session: Session, row: ReferralRow, ruleset: Ruleset, today: dt.date,
                       now: dt.datetime) -> Screening:
    from services.intake.usecases.referrals import rebuild_referral
    from services.intake.usecases.submissions import screening_row_values

    result = screen(rebuild_referral(session, row), ruleset, today)
    session.execute(insert(ScreeningRow),
                    [screening_row_values(row.id, row.agency_id, result, "eligible_on", "service:intake", now)])
    row.recommendation = result.recommendation.value
    row.eligible_programs = _column(result.eligible_programs)
    return result
