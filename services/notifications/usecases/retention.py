"""What notifications purges past retention besides the common tables: the delivery log (ADR 0082).

A finished delivery (delivered, failed, cancelled) holds the message body and its recipient; it goes with
its attempts (ON DELETE CASCADE). Attempts on their own go sooner: their error text can quote a receiver's
answer. A pending or sending delivery is never purged.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, MetaData, Table, select

from shared.upkeep import PurgeClass

FINISHED = ("delivered", "failed", "cancelled")


def _finished(table: Table, metadata: MetaData) -> ColumnElement[bool]:
    return table.c.status.in_(FINISHED)


def _attempt_agency(table: Table, metadata: MetaData) -> ColumnElement[str]:
    delivery = metadata.tables["delivery"]
    return select(delivery.c.agency_id).where(delivery.c.id == table.c.delivery_id).scalar_subquery()


PURGE_CLASSES: tuple[PurgeClass, ...] = (
    PurgeClass("delivery.log", "delivery", "updated_at", where=_finished),
    PurgeClass("delivery.attempt", "delivery_attempt", "attempted_at", agency=_attempt_agency),
)
