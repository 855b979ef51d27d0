"""Messaging and idempotency: outbox and inbox (shared.messaging), Idempotency-Key memory.

Revision ID: casework_0002
Revises: casework_0001
"""
from alembic import op

from shared.idempotency import create_idempotency_table, drop_idempotency_table
from shared.messaging.tables import create_messaging_tables, drop_messaging_tables

revision = "casework_0002"
down_revision = "casework_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_messaging_tables(op)
    create_idempotency_table(op)


def downgrade() -> None:
    drop_idempotency_table(op)
    drop_messaging_tables(op)
