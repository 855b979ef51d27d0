"""Casework's caseload as resources learns it from case.opened and case.assigned (ADR 0071).

Revision ID: resources_0015
Revises: resources_0006
"""
import sqlalchemy as sa
from alembic import op

from shared.timestamps import UtcDateTime

revision = "resources_0015"
down_revision = "resources_0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "caseload_entry",
        sa.Column("agency_id", sa.String(64), primary_key=True),
        sa.Column("case_id", sa.String(100), primary_key=True),
        sa.Column("participant_id", sa.String(100), nullable=True),
        sa.Column("case_manager", sa.String(200), nullable=True),
        sa.Column("assigned_at", UtcDateTime(), nullable=True),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_caseload_agency_participant", "caseload_entry", ["agency_id", "participant_id"])


def downgrade() -> None:
    op.drop_index("ix_caseload_agency_participant", table_name="caseload_entry")
    op.drop_table("caseload_entry")
