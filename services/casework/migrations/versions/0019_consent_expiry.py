"""Consent events (ADR 0070): when consent.expired was published for a consent (once).

Revision ID: casework_0019
Revises: casework_0018
"""
import sqlalchemy as sa
from alembic import op

revision = "casework_0019"
down_revision = "casework_0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("consent") as batch:
        batch.add_column(sa.Column("expiry_announced_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("consent") as batch:
        batch.drop_column("expiry_announced_at")
