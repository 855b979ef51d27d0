"""Subscriptions of the agency's own systems (audience), next to partners'.

Revision ID: notifications_0005
Revises: notifications_0004
"""
import sqlalchemy as sa
from alembic import op

revision = "notifications_0005"
down_revision = "notifications_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subscription") as batch:
        batch.add_column(sa.Column("audience", sa.String(16), nullable=False, server_default="partner"))


def downgrade() -> None:
    with op.batch_alter_table("subscription") as batch:
        batch.drop_column("audience")
