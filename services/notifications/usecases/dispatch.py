"""The delivery worker's steps: claim due deliveries, record what each send did (due reminders: `due_reminders`).

Claiming and recording are short transactions; the send itself happens between them, outside any
transaction. A claim sets `status='sending'`, a lease and the claiming instance; a row whose sender died
is put back as soon as that instance stops beating (`instances`), or claimed again once the lease runs out
(and the lost try is logged), so nothing waits forever and nothing is sent by two instances at once
while a send is in flight. Rows are claimed with `FOR UPDATE SKIP LOCKED` on
PostgreSQL; the claiming UPDATE repeats the condition, so SQLite (one writer) is safe as well.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, and_, bindparam, insert, or_, select, update
from sqlalchemy.orm import Session

from services.notifications.channels.base import AttemptResult, AttemptStatus, Message
from services.notifications.domain.delivery import RetryPolicy, next_step
from services.notifications.metrics import FAILED, RETRIED, SENT, WITHHELD
from services.notifications.models import (
    Delivery,
    DeliveryAttempt,
    SmsOptOut,
    Subscription,
)
from services.notifications.usecases import consents as consent_copy
from services.notifications.usecases.disclosures import Disclosure, disclosure_of, record_partner_disclosures
from shared.messaging.catalog import DeliveryFailed
from shared.messaging.envelope import new_event
from shared.messaging.outbox import record as record_event

log = logging.getLogger(__name__)

_delivery: Table = Delivery.__table__  # type: ignore[assignment]
_attempt: Table = DeliveryAttempt.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class Job:
    """A claimed delivery, ready to send: everything the green thread needs, no ORM objects."""

    delivery_id: str
    agency: str
    channel: str
    attempt: int  # total attempts including this one (log numbering)
    round_attempt: int  # attempts since creation or the last replay (retry schedule)
    subscription_id: str | None
    trigger_event_id: str
    trigger_event_type: str
    message: Message | None  # None: not sendable any more (cancel with `cancel_reason`)
    cancel_reason: str | None = None
    withheld: bool = False  # no consent covered it when it was to be sent (ADR 0070): status `withheld`
    retaken: bool = False  # claimed again after a lease ran out: the last try may have gone out unrecorded
    disclosure: Disclosure | None = None  # what it discloses of a participant, for the accounting (ADR 0071)


def _claimable(now: datetime) -> Any:
    return or_(
        and_(_delivery.c.status == "pending", _delivery.c.next_attempt_at <= now),
        and_(_delivery.c.status == "sending", _delivery.c.lease_until < now),
    )


def claim_deliveries(session: Session, now: datetime, lease: timedelta, limit: int,
                     grace_secrets: bool = True, instance: str | None = None,
                     consent_check: bool = True) -> list[Job]:
    """Claim up to `limit` due deliveries for `instance` (see `instances`) and commit; returns what to send."""
    ids = session.scalars(
        select(_delivery.c.id).where(_claimable(now)).order_by(_delivery.c.next_attempt_at)
        .limit(limit).with_for_update(skip_locked=True)
    ).all()
    if not ids:
        session.rollback()
        return []
    lost = session.execute(
        select(_delivery.c.id, _delivery.c.attempts).where(_delivery.c.id.in_(ids), _delivery.c.status == "sending")
    ).all()
    if lost:
        session.execute(insert(_attempt), [
            {"delivery_id": row.id, "attempt_number": row.attempts, "attempted_at": now, "outcome": "lost",
             "status_code": None, "latency_ms": None,
             "error": "the sending instance did not report within its lease (stopped or crashed)"}
            for row in lost
        ])
    rows = session.execute(
        update(_delivery).where(_delivery.c.id.in_(ids), _claimable(now)).values(
            status="sending", lease_until=now + lease, claimed_by=instance, attempts=_delivery.c.attempts + 1,
            round_attempts=_delivery.c.round_attempts + 1, updated_at=now,
        ).returning(
            _delivery.c.id, _delivery.c.agency_id, _delivery.c.channel, _delivery.c.attempts,
            _delivery.c.round_attempts, _delivery.c.subscription_id, _delivery.c.recipient,
            _delivery.c.subject, _delivery.c.body, _delivery.c.html, _delivery.c.trigger_event_id,
            _delivery.c.trigger_event_type, _delivery.c.purpose, _delivery.c.org_id, _delivery.c.consent_id,
            _delivery.c.disclosure_categories, _delivery.c.disclosure_purpose, _delivery.c.created_at,
        )
    ).all()
    # The send-time consent check (ADR 0070): asked now, as the deliveries are about to go out.
    pool = consent_copy.snapshots(session, [r.consent_id for r in rows if r.purpose == "partner_event"]) \
        if consent_check else []
    waiting = consent_copy.awaiting_consent(pool, rows, now) if consent_check else set()
    if waiting:  # their consent is not copied yet: back in line, the claim undone
        session.execute(update(_delivery).where(_delivery.c.id.in_(waiting)).values(
            status="pending", lease_until=None, claimed_by=None, attempts=_delivery.c.attempts - 1,
            round_attempts=_delivery.c.round_attempts - 1, next_attempt_at=now + consent_copy.AWAIT_AGAIN))
        rows = [r for r in rows if r.id not in waiting]
    subscriptions = _subscriptions(session, {row.subscription_id for row in rows if row.subscription_id})
    opted_out = _opted_out(session, [row.recipient for row in rows if row.channel == "sms"])
    session.commit()
    retaken = {row.id for row in lost}
    jobs = []
    for row in rows:
        message, reason = _message(row, subscriptions, opted_out, now)
        withheld = consent_copy.withheld_reason(pool, row, now.date()) if consent_check else None
        if withheld is not None:
            message, reason = None, withheld
        jobs.append(Job(
            delivery_id=row.id, agency=row.agency_id, channel=row.channel, attempt=row.attempts,
            round_attempt=row.round_attempts, subscription_id=row.subscription_id,
            trigger_event_id=row.trigger_event_id, trigger_event_type=row.trigger_event_type,
            message=message, cancel_reason=reason, withheld=withheld is not None, retaken=row.id in retaken,
            disclosure=disclosure_of(row),
        ))
    return jobs


def _subscriptions(session: Session, ids: set[str]) -> dict[str, Subscription]:
    if not ids:
        return {}
    return {row.id: row for row in session.scalars(select(Subscription).where(Subscription.id.in_(ids))).all()}


def _opted_out(session: Session, phones: Sequence[str]) -> set[str]:
    if not phones:
        return set()
    return set(session.scalars(select(SmsOptOut.phone).where(
        SmsOptOut.phone.in_(list(phones)), SmsOptOut.opted_out.is_(True)
    )).all())


def signing_secrets(subscription: Subscription, now: datetime) -> tuple[str, ...]:
    """Current secret first; the previous one too while its rotation grace period lasts."""
    secrets = [subscription.secret] if subscription.secret else []
    expires = subscription.previous_secret_expires_at
    if subscription.previous_secret and expires is not None and expires > now:
        secrets.append(subscription.previous_secret)
    return tuple(secrets)


def _message(row: Any, subscriptions: dict[str, Subscription], opted_out: set[str],
             now: datetime) -> tuple[Message | None, str | None]:
    secrets: tuple[str, ...] = ()
    if row.subscription_id:
        subscription = subscriptions.get(row.subscription_id)
        if subscription is None or subscription.status != "enabled":
            return None, "the subscription is disabled"
        if row.channel == "webhook":
            secrets = signing_secrets(subscription, now)
    if row.channel == "sms" and row.recipient in opted_out:
        return None, "the recipient opted out of SMS (STOP)"
    return Message(
        id=row.id, recipient=row.recipient, body=row.body, subject=row.subject, html=row.html,
        secrets=secrets, tenant=row.agency_id, event_type=row.trigger_event_type,
    ), None


@dataclass(frozen=True)
class Outcome:
    job: Job
    result: AttemptResult
    at: datetime


def record_outcomes(session: Session, outcomes: Sequence[Outcome], policy: RetryPolicy,
                    final: bool = False) -> list[tuple[str, str, str | None]]:
    """Log each attempt and move its delivery on (delivered, retry later, failed); one transaction.

    `final` (pings) never schedules a retry. An outcome whose lease was taken over by another
    instance (the row's attempt count moved on) is logged but does not change the row. Returns,
    once committed, what became of each attempt for the delivery metrics: (channel, kind, reason).
    """
    if not outcomes:
        return []
    session.execute(insert(_attempt), [
        {"delivery_id": o.job.delivery_id, "attempt_number": o.job.attempt, "attempted_at": o.at,
         "outcome": o.result.status.value if o.job.message is not None else "cancelled",
         "status_code": o.result.status_code, "latency_ms": o.result.latency_ms,
         "error": (o.result.error or None) and str(o.result.error)[:2000]}
        for o in outcomes
    ])
    changes = []
    delivered: list[str] = []
    gone: set[str] = set()
    failed_events = []
    tally: list[tuple[str, str, str | None]] = []
    for o in outcomes:
        step = next_step(policy, o.result, o.job.round_attempt, o.at) if o.job.message is not None else None
        if step is not None and step.status is AttemptStatus.DELIVERED:
            delivered.append(o.job.delivery_id)
            tally.append((o.job.channel, SENT, None))
            continue
        values: dict[str, Any] = {
            "b_id": o.job.delivery_id, "b_attempts": o.job.attempt, "v_last_status_code": o.result.status_code,
            "v_last_error": (o.result.error or None) and str(o.result.error)[:2000], "v_updated_at": o.at,
            "v_next_attempt_at": None, "v_lease_until": None, "v_delivered_at": None,
        }
        if step is None:
            values["v_status"] = "withheld" if o.job.withheld else "cancelled"
            if o.job.withheld:
                values["v_last_error"] = o.job.cancel_reason
            tally.append((o.job.channel, WITHHELD, o.job.cancel_reason))
        else:
            if step.status is AttemptStatus.RETRY and not final:
                values.update(v_status="pending", v_next_attempt_at=step.retry_at)
                tally.append((o.job.channel, RETRIED, None))
            else:
                values["v_status"] = "failed"
                failed_events.append(o)
                tally.append((o.job.channel, FAILED, None))
            if step.disable_subscription and o.job.subscription_id:
                gone.add(o.job.subscription_id)
        changes.append(values)
    if delivered:
        # The usual case, in one statement for the whole batch: the attempt row just logged carries the
        # time and status code. Its number must still be the delivery's attempt count, as below: a
        # delivery whose lease another instance took over is logged but not changed.
        attempt = _attempt.alias("logged")
        session.execute(
            update(_delivery).where(
                _delivery.c.id.in_(delivered), _delivery.c.status == "sending",
                attempt.c.delivery_id == _delivery.c.id, attempt.c.attempt_number == _delivery.c.attempts,
                attempt.c.outcome == "delivered",
            ).values(
                status="delivered", last_status_code=attempt.c.status_code, last_error=None,
                updated_at=attempt.c.attempted_at, next_attempt_at=None, lease_until=None,
                delivered_at=attempt.c.attempted_at, version=_delivery.c.version + 1,
            ).execution_options(synchronize_session=False)
        )
    if changes:
        _record_changes(session, changes)
    for subscription_id in gone:
        disable_gone(session, subscription_id, outcomes[0].at)
    for o in failed_events:
        record_event(session, new_event(
            DeliveryFailed(
                delivery_id=o.job.delivery_id, channel=o.job.channel, trigger_event_id=o.job.trigger_event_id,
                trigger_event_type=o.job.trigger_event_type, attempts=max(o.job.attempt, 1),
                last_error=(o.result.error or f"answered {o.result.status_code}")[:2000], failed_at=o.at,
            ),
            subject=o.job.delivery_id, tenantid=o.job.agency,
        ), service="notifications")
    record_partner_disclosures(session, outcomes, set(delivered))  # the accounting of disclosures (ADR 0071)
    session.commit()
    return tally


def _record_changes(session: Session, changes: list[dict[str, Any]]) -> None:
    """Retries, failures, cancellations: a row each (they are few)."""
    session.execute(
        update(_delivery).where(
            _delivery.c.id == bindparam("b_id"), _delivery.c.attempts == bindparam("b_attempts"),
            _delivery.c.status == "sending",
        ).values(
            status=bindparam("v_status"), last_status_code=bindparam("v_last_status_code"),
            last_error=bindparam("v_last_error"), updated_at=bindparam("v_updated_at"),
            next_attempt_at=bindparam("v_next_attempt_at"), lease_until=bindparam("v_lease_until"),
            delivered_at=bindparam("v_delivered_at"), version=_delivery.c.version + 1,
        ).execution_options(synchronize_session=False),
        changes,
    )


def disable_gone(session: Session, subscription_id: str, now: datetime) -> None:
    session.execute(
        update(Subscription).where(Subscription.id == subscription_id, Subscription.status == "enabled").values(
            status="disabled", disabled_reason="the receiver answered 410 Gone", version=Subscription.version + 1,
            updated_at=now,
        )
    )


def cancelled(job: Job) -> AttemptResult:
    return AttemptResult(AttemptStatus.FAILED, error=job.cancel_reason or "cancelled")


Sender = Callable[[Job], AttemptResult]
