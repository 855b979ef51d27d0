"""Directory ownership: which agency's partner logins may edit an organization's listings (ADR 0031).

Revision ID: resources_0005
Revises: resources_0004
"""
import sqlalchemy as sa
from alembic import op

from shared.timestamps import UtcDateTime

revision = "resources_0005"
down_revision = "resources_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "directory_steward",
        sa.Column("organization_id", sa.String(64), primary_key=True),
        sa.Column("agency_id", sa.String(64), nullable=False),
        sa.Column("assigned_by", sa.String(200), nullable=False),
        sa.Column("assigned_at", UtcDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("directory_steward")
