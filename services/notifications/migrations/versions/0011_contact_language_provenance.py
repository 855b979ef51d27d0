"""A contact preference remembers that staff chose its language, so events never overwrite it.

Revision ID: notifications_0011
Revises: notifications_0005
"""
import sqlalchemy as sa
from alembic import op

revision = "notifications_0011"
down_revision = "notifications_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("contact_preference") as batch:
        batch.add_column(sa.Column("language_set_by_staff", sa.Boolean, nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("contact_preference") as batch:
        batch.drop_column("language_set_by_staff")
