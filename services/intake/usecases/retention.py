"""What intake purges past retention besides the common tables: referrals no program took (ADR 0082).

Deleting a referral deletes its defendant, charges, history, screenings, decisions and judgements with it
(foreign keys ON DELETE CASCADE). Accepted, deferred and disposed referrals are kept: their end is the
case's, and sealing decides it.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, MetaData, Table

from shared.upkeep import PurgeClass


def _ineligible(table: Table, metadata: MetaData) -> ColumnElement[bool]:
    return (table.c.status == "screened") & (table.c.recommendation == "ineligible")


def _declined(table: Table, metadata: MetaData) -> ColumnElement[bool]:
    return table.c.status == "declined"


# `updated_at` is the last change: the screening for an ineligible referral, the decision for a declined one.
PURGE_CLASSES: tuple[PurgeClass, ...] = (
    PurgeClass("referral.ineligible", "referral", "updated_at", where=_ineligible),
    PurgeClass("referral.declined", "referral", "updated_at", where=_declined),
)
