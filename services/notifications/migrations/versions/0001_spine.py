"""Spine: audit trail and subscriptions.

Revision ID: notifications_0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

from shared.audit import create_audit_table, drop_audit_table

revision = "notifications_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_audit_table(op)
    op.create_table(
        "subscription",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("agency_id", sa.String(64), nullable=False, index=True),
        sa.Column("org_id", sa.String(64), nullable=False, index=True),
        sa.Column("channel", sa.String(32), nullable=False, server_default="webhook"),
        sa.Column("url", sa.String(2000)),
        sa.Column("event_types", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="enabled"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("subscription")
    drop_audit_table(op)
