"""The `outbox` and `inbox` tables, added to a service's own metadata, and its Alembic helpers.

In `services/<name>/models.py`: `add_messaging_tables(Base.metadata)`. In the service's hand-written
migration: `create_messaging_tables(op)` in `upgrade()` and `drop_messaging_tables(op)` in `downgrade()`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    text,
)

from shared.timestamps import UtcDateTime

OUTBOX = "outbox"
INBOX = "inbox"

# BIGINT autoincrements on PostgreSQL; SQLite only autoincrements an INTEGER PRIMARY KEY.
_Id = BigInteger().with_variant(Integer(), "sqlite")


def _outbox_columns() -> list[Any]:
    return [
        Column("id", _Id, primary_key=True, autoincrement=True),
        Column("event_id", String(100), nullable=False, unique=True),
        Column("event_type", String(200), nullable=False),
        Column("subject", String(200), nullable=False),
        Column("exchange", String(255), nullable=False),
        Column("routing_key", String(255), nullable=False),
        Column("body", Text, nullable=False),
        Column("headers", Text, nullable=False, server_default="{}"),
        Column("created_at", UtcDateTime(), nullable=False),
        Column("sent_at", UtcDateTime(), nullable=True),
        Column("attempts", Integer, nullable=False, server_default="0"),
        Column("last_error", Text, nullable=True),
    ]


def _inbox_columns() -> list[Any]:
    return [
        Column("consumer", String(255), nullable=False),
        Column("source", String(200), nullable=False),
        Column("event_id", String(100), nullable=False),
        Column("event_type", String(200), nullable=False),
        Column("handled_at", UtcDateTime(), nullable=False),
        PrimaryKeyConstraint("consumer", "source", "event_id", name="pk_inbox"),
    ]


_PENDING = text("sent_at IS NULL")


@dataclass(frozen=True)
class MessagingTables:
    outbox: Table
    inbox: Table


def add_messaging_tables(metadata: MetaData) -> MessagingTables:
    """Add `outbox` and `inbox` to a service's metadata (its `Base.metadata`)."""
    outbox = Table(OUTBOX, metadata, *_outbox_columns())
    Index("ix_outbox_pending", outbox.c.id, postgresql_where=_PENDING, sqlite_where=_PENDING)
    Index("ix_outbox_subject_pending", outbox.c.subject, outbox.c.id, postgresql_where=_PENDING, sqlite_where=_PENDING)
    inbox = Table(INBOX, metadata, *_inbox_columns())
    return MessagingTables(outbox, inbox)


# The relay and the consumer use these for their statements; every service's tables look the same.
TABLES = add_messaging_tables(MetaData())


def create_messaging_tables(op: Any) -> None:
    """Alembic `upgrade()` step: create `outbox` and `inbox` with their indexes."""
    op.create_table(OUTBOX, *_outbox_columns())
    op.create_index("ix_outbox_pending", OUTBOX, ["id"], postgresql_where=_PENDING, sqlite_where=_PENDING)
    op.create_index(
        "ix_outbox_subject_pending", OUTBOX, ["subject", "id"], postgresql_where=_PENDING, sqlite_where=_PENDING
    )
    op.create_table(INBOX, *_inbox_columns())


def drop_messaging_tables(op: Any) -> None:
    """Alembic `downgrade()` step."""
    op.drop_table(INBOX)
    op.drop_index("ix_outbox_subject_pending", table_name=OUTBOX)
    op.drop_index("ix_outbox_pending", table_name=OUTBOX)
    op.drop_table(OUTBOX)
