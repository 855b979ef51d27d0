"""What notifications purges past retention besides the common tables (ADR 0082).

- `delivery.log`: a finished delivery (delivered, failed, cancelled, withheld) holds the message body and its
  recipient; it goes with its attempts (ON DELETE CASCADE). A pending or sending delivery is never purged.
- `delivery.attempt`: attempts on their own go sooner: their error text can quote a receiver's answer.
- `consent.ended`: the copy of a consent casework revoked or that expired (`partner_consent`: person,
  partner, categories), from its last change. A valid consent stays whatever its age. Once the copy is gone a
  delivery naming that consent is withheld (no consent covers it), as it was while the copy said revoked.
  The days must outlast the replay of an old `consent.recorded` (inbox rows, sent outbox rows, dead letters),
  which would otherwise bring the consent back as recorded.
- `reminder.finished`: a reminder that is queued (its delivery has the rest), skipped or cancelled, of an
  appointment already past, from its last change (it names the case, the appointment's time and place). A
  scheduled reminder stays, and so does any reminder of an appointment still to come. The appointment's
  version record (`appointment_state`, which keeps an older event arriving late from planning again) goes
  in the same round once no other reminder of the appointment is left and it too is older than the
  retention: by then no event about it is still travelling, and a replayed one plans nothing for a time
  already past (`plan_reminders` plans only what is still to be sent).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from sqlalchemy import ColumnElement, MetaData, Table, and_, delete, exists, func, not_, select, union
from sqlalchemy.orm import Session

from services.notifications.models import AppointmentState, Reminder
from shared.retention import Schedule
from shared.upkeep import PurgeClass, PurgeHook

FINISHED = ("delivered", "failed", "cancelled", "withheld")
REMINDER_FINISHED = ("queued", "skipped", "cancelled")
REMINDER = "reminder.finished"


def _finished(table: Table, metadata: MetaData) -> ColumnElement[bool]:
    return table.c.status.in_(FINISHED)


def _attempt_agency(table: Table, metadata: MetaData) -> ColumnElement[str]:
    delivery = metadata.tables["delivery"]
    return select(delivery.c.agency_id).where(delivery.c.id == table.c.delivery_id).scalar_subquery()


def _ended(table: Table, metadata: MetaData) -> ColumnElement[bool]:
    return table.c.revoked_on.is_not(None) | (table.c.expired == True)  # noqa: E712 - SQL comparison


PURGE_CLASSES: tuple[PurgeClass, ...] = (
    PurgeClass("delivery.log", "delivery", "updated_at", where=_finished),
    PurgeClass("delivery.attempt", "delivery_attempt", "attempted_at", agency=_attempt_agency),
    PurgeClass("consent.ended", "partner_consent", "changed_at", where=_ended),
)


Purged = list[tuple[str, str, str, int]]


def _past(cutoff: dt.datetime, now: dt.datetime) -> ColumnElement[bool]:
    """The reminders of `reminder.finished` at this cutoff."""
    return (Reminder.status.in_(REMINDER_FINISHED) & (Reminder.updated_at < cutoff)
            & (Reminder.appointment_at < now))


def purge_reminders(session: Session, now: dt.datetime, schedule: Schedule, dry_run: bool) -> Purged:
    """Delete (or count) the finished reminders past retention and the version records left without one."""
    agencies = session.scalars(union(select(Reminder.agency_id), select(AppointmentState.agency_id))).all()
    out: Purged = []
    for agency in sorted(agencies):
        cutoff = schedule.cutoff(REMINDER, now, agency)
        reminders = and_(Reminder.agency_id == agency, _past(cutoff, now))
        # A reminder of the appointment that is not itself going in this round keeps its version record.
        staying = exists().where(Reminder.agency_id == agency,
                                 Reminder.appointment_id == AppointmentState.appointment_id, not_(_past(cutoff, now)))
        states = and_(AppointmentState.agency_id == agency, AppointmentState.updated_at < cutoff, not_(staying))
        for model, condition in ((Reminder, reminders), (AppointmentState, states)):
            table = cast(Table, model.__table__)
            if dry_run:
                count = int(session.scalar(select(func.count()).select_from(table).where(condition)) or 0)
            else:
                count = int(cast(Any, session.execute(delete(table).where(condition))).rowcount or 0)
            if count:
                out.append((REMINDER, table.name, agency, count))
    # Both tables appear in the report, with 0 when nothing went (as the single-table classes do).
    return out + [(REMINDER, "reminder", "", 0), (REMINDER, "appointment_state", "", 0)]


PURGE_HOOKS: tuple[PurgeHook, ...] = (purge_reminders,)
