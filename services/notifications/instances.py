"""Instance heartbeats: each notifications instance beats in its database, and takes over a dead peer's claims.

A claimed delivery carries the id of the instance that claimed it (`delivery.claimed_by`). Every beat, in one
short transaction, an instance (1) stamps its own row with the database's clock, (2) deletes the rows of
peers silent for longer than the timeout and (3) puts back to `pending` every delivery still `sending`
under an instance that has no row any more, logging the unknown try as `lost`. The next claim sends them
again with the same delivery id (the `webhook-id`, the email's Message-ID), so a send that went out but was
never recorded reaches the receiver twice and is deduplicated there; each is counted as re-sent.

The database's clock judges every beat, so instances on hosts whose clocks disagree still agree on who
is silent. Several instances may sweep at once: the row locks let one of them put a delivery back, and the
others find it `pending` and leave it alone. An instance that was only slow (not dead) and finds its row
gone joins again with a warning; what it was sending is recorded as an attempt but no longer moves the
delivery, as when a lease runs out. The lease stays as the backstop for claims made without an instance id.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Table, delete, func, insert, select, update
from sqlalchemy.orm import Session

from services.notifications.models import Delivery, DeliveryAttempt, InstanceHeartbeat

_delivery: Table = Delivery.__table__  # type: ignore[assignment]
_attempt: Table = DeliveryAttempt.__table__  # type: ignore[assignment]
_instance: Table = InstanceHeartbeat.__table__  # type: ignore[assignment]


def new_instance_id() -> str:
    """Unique per process start: a restarted instance is a new one, and its predecessor's claims are taken over."""
    host = socket.gethostname()[:40]
    return f"{host}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def database_now(session: Session) -> datetime:
    """The database server's time (PostgreSQL), so every instance judges silence by the same clock.

    SQLite is embedded: its instances share the one machine's clock.
    """
    if session.get_bind().dialect.name == "postgresql":
        value = session.scalar(select(func.statement_timestamp()))
        assert isinstance(value, datetime)
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return datetime.now(UTC)


@dataclass(frozen=True)
class Beat:
    rejoined: bool  # our row was gone (a peer took us for dead): we joined again
    dead: tuple[str, ...]  # peers found silent and removed by this beat
    taken_over: tuple[str, ...]  # deliveries put back to pending, to be sent again


def join(session: Session, instance_id: str) -> None:
    """Register this instance before it claims anything; commits."""
    now = database_now(session)
    session.execute(insert(_instance).values(
        id=instance_id, host=socket.gethostname()[:255], pid=os.getpid(), started_at=now, beat_at=now,
    ))
    session.commit()


def leave(session: Session, instance_id: str) -> None:
    """A clean stop: remove our row, so peers put back at once whatever we still held; commits."""
    session.execute(delete(_instance).where(_instance.c.id == instance_id))
    session.commit()


def beat(session: Session, instance_id: str, timeout: timedelta, logged_at: datetime) -> Beat:
    """Stamp our row, remove silent peers, put back the deliveries of instances that are gone; commits.

    `logged_at` is the time written on the `lost` attempts (the delivery log's clock).
    """
    now = database_now(session)
    rejoined = session.execute(
        update(_instance).where(_instance.c.id == instance_id).values(beat_at=now).returning(_instance.c.id)
    ).first() is None
    if rejoined:
        session.execute(insert(_instance).values(
            id=instance_id, host=socket.gethostname()[:255], pid=os.getpid(), started_at=now, beat_at=now,
        ))
    cutoff = now - timeout
    dead = tuple(session.scalars(
        select(_instance.c.id).where(_instance.c.beat_at < cutoff, _instance.c.id != instance_id)
    ).all())
    if dead:
        # The condition again: a peer that beat since the SELECT keeps its row.
        session.execute(delete(_instance).where(_instance.c.id.in_(dead), _instance.c.beat_at < cutoff))
    released = session.execute(
        update(_delivery).where(
            _delivery.c.status == "sending", _delivery.c.claimed_by.is_not(None),
            _delivery.c.claimed_by.not_in(select(_instance.c.id)),
        ).values(status="pending", lease_until=None, claimed_by=None)
        .returning(_delivery.c.id, _delivery.c.attempts)
    ).all()
    if released:
        session.execute(insert(_attempt), [
            {"delivery_id": row.id, "attempt_number": row.attempts, "attempted_at": logged_at, "outcome": "lost",
             "status_code": None, "latency_ms": None,
             "error": "the instance sending it stopped (no heartbeat); sent again by a live instance"}
            for row in released
        ])
    session.commit()
    return Beat(rejoined=rejoined, dead=dead, taken_over=tuple(row.id for row in released))
