"""Spine: audit trail and the agency's programs.

Revision ID: intake_0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

from shared.audit import create_audit_table, drop_audit_table

revision = "intake_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_audit_table(op)
    op.create_table(
        "program",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("agency_id", sa.String(64), nullable=False, index=True),
        sa.Column("slug", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("min_months", sa.Integer, nullable=False),
        sa.Column("max_months", sa.Integer, nullable=False),
        sa.Column("ruleset_version", sa.String(100), nullable=False),
        sa.UniqueConstraint("agency_id", "slug"),
    )


def downgrade() -> None:
    op.drop_table("program")
    drop_audit_table(op)
