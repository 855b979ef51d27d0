"""Spine: audit trail and organizations.

Revision ID: resources_0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

from shared.audit import create_audit_table, drop_audit_table

revision = "resources_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_audit_table(op)
    op.create_table(
        "organization",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(300), nullable=False, index=True),
        sa.Column("alternate_name", sa.String(300)),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("email", sa.String(254)),
        sa.Column("website", sa.String(500)),
    )


def downgrade() -> None:
    op.drop_table("organization")
    drop_audit_table(op)
