"""Spine: audit trail and staff.

Revision ID: casework_0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

from shared.audit import create_audit_table, drop_audit_table

revision = "casework_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_audit_table(op)
    op.create_table(
        "staff",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("agency_id", sa.String(64), nullable=False, index=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("role", sa.String(32), nullable=False, server_default="case_manager"),
        sa.Column("programs", sa.JSON, nullable=False),
        sa.Column("caseload_cap", sa.Integer, nullable=False, server_default="25"),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.UniqueConstraint("agency_id", "email"),
    )


def downgrade() -> None:
    op.drop_table("staff")
    drop_audit_table(op)
