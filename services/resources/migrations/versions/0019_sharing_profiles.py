"""Per-agency, per-partner data-sharing profiles (ADR 0070).

Revision ID: resources_0019
Revises: resources_0018
"""
import sqlalchemy as sa
from alembic import op

from shared.timestamps import UtcDateTime

revision = "resources_0019"
down_revision = "resources_0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sharing_profile",
        sa.Column("agency_id", sa.String(64), primary_key=True),
        sa.Column("organization_id", sa.String(64), primary_key=True),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("contact_methods", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("sharing_profile")
