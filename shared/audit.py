"""Append-only audit trail (CJIS AU-3: what, when, where, source, outcome, who), one table per service.

Each service declares `audit_event` on its own metadata with `audit_table()`; rows are written with
`write_audit` (in the caller's transaction, for state changes) or `write_audit_now` (own transaction,
for reads and failures that must be recorded even when the request fails).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, BigInteger, Column, Index, Integer, MetaData, String, Table, insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from shared.timestamps import UtcDateTime

if TYPE_CHECKING:
    from shared.auth import Identity

AUDIT_TABLE = "audit_event"
OUTCOMES = ("success", "failure", "denied")


def audit_columns() -> list[Any]:
    return [
        Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
        Column("occurred_at", UtcDateTime(), nullable=False),  # when
        Column("service", String(40), nullable=False),  # source
        Column("agency_id", String(64), nullable=True),
        Column("actor", String(200), nullable=False),  # who
        Column("actor_roles", String(200), nullable=False, server_default=""),
        Column("action", String(80), nullable=False),  # what
        Column("resource_type", String(80), nullable=False),
        Column("resource_id", String(200), nullable=True),
        Column("outcome", String(16), nullable=False),
        Column("source_ip", String(64), nullable=True),  # where
        Column("request_id", String(100), nullable=True),
        Column("detail", JSON, nullable=True),
    ]


def audit_table(metadata: MetaData) -> Table:
    return Table(
        AUDIT_TABLE,
        metadata,
        *audit_columns(),
        Index("ix_audit_event_agency_time", "agency_id", "occurred_at"),
        Index("ix_audit_event_resource", "resource_type", "resource_id"),
    )


# Used for writing without each caller holding its service's metadata.
_writer_table = Table(AUDIT_TABLE, MetaData(), *audit_columns())


def _row(
    *,
    service: str,
    action: str,
    outcome: str,
    identity: Identity | None,
    resource_type: str,
    resource_id: str | None,
    source_ip: str | None,
    request_id: str | None,
    detail: dict[str, Any] | None,
    agency_id: str | None = None,
    actor: str | None = None,
) -> dict[str, Any]:
    if outcome not in OUTCOMES:
        raise ValueError(f"audit outcome must be one of {OUTCOMES}")
    return {
        "occurred_at": dt.datetime.now(dt.UTC),
        "service": service,
        "agency_id": identity.agency if identity else agency_id,
        "actor": identity.sub if identity else (actor or "anonymous"),
        "actor_roles": ",".join(sorted(identity.roles)) if identity else "",
        "action": action,
        "resource_type": resource_type,
        "resource_id": resource_id,
        "outcome": outcome,
        "source_ip": source_ip,
        "request_id": request_id,
        "detail": detail,
    }


def write_audit(target: Session | Connection, **fields: Any) -> None:
    """Add an audit row to the caller's transaction (it commits with the change it records)."""
    target.execute(insert(_writer_table).values(**_row(**fields)))


def write_audit_now(engine: Engine, **fields: Any) -> None:
    """Write an audit row in its own transaction, whatever happens to the request."""
    with engine.begin() as connection:
        connection.execute(insert(_writer_table).values(**_row(**fields)))


APPEND_ONLY_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'audit_event is append-only';
END;
$$ LANGUAGE plpgsql;
"""


def create_audit_table(op: Any) -> None:
    """For a service's initial migration: the table, and on PostgreSQL a trigger refusing changes."""
    op.create_table(AUDIT_TABLE, *audit_columns())
    op.create_index("ix_audit_event_agency_time", AUDIT_TABLE, ["agency_id", "occurred_at"])
    op.create_index("ix_audit_event_resource", AUDIT_TABLE, ["resource_type", "resource_id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(APPEND_ONLY_FUNCTION)
        op.execute(
            "CREATE TRIGGER audit_event_no_change BEFORE UPDATE OR DELETE ON audit_event "
            "FOR EACH ROW EXECUTE FUNCTION audit_event_append_only()"
        )
    else:
        op.execute(
            "CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event "
            "BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END"
        )
        op.execute(
            "CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event "
            "BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END"
        )


def drop_audit_table(op: Any) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_change ON audit_event")
        op.execute("DROP FUNCTION IF EXISTS audit_event_append_only()")
    op.drop_table(AUDIT_TABLE)
