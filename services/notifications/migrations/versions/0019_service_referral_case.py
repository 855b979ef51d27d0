"""The case each service referral serves, so a failed partner delivery reaches the case manager.

Revision ID: notifications_0019
Revises: notifications_0018
"""
import sqlalchemy as sa
from alembic import op

revision = "notifications_0019"
down_revision = "notifications_0018"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "service_referral_case",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("agency_id", sa.String(64), nullable=False),
        sa.Column("service_referral_id", sa.String(100), nullable=False),
        sa.Column("case_id", sa.String(100), nullable=False),
        sa.Column("learned_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("agency_id", "service_referral_id", name="uq_service_referral_case"),
    )


def downgrade() -> None:
    op.drop_table("service_referral_case")
