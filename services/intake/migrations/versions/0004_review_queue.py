"""The screening desk: review queue columns on referral, judgements (append-only), eligibility dates.

Revision ID: intake_0004
Revises: intake_0003
"""
import sqlalchemy as sa
from alembic import op

revision = "intake_0004"
down_revision = "intake_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("referral") as batch:
        batch.add_column(sa.Column("review_reasons", sa.String(200), nullable=False, server_default=""))
        batch.add_column(sa.Column("review_since", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("pending_programs", sa.String(2000), nullable=False, server_default=","))
        batch.add_column(sa.Column("eligible_on", sa.Date, nullable=True))
    op.create_index("ix_referral_agency_review", "referral", ["agency_id", "review_since", "id"])
    op.create_index("ix_referral_status_deferred_until", "referral", ["status", "deferred_until"])
    op.create_index("ix_referral_eligible_on", "referral", ["eligible_on"])
    op.create_table(
        "judgement",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("referral_id", sa.String(36), sa.ForeignKey("referral.id", ondelete="CASCADE"), nullable=False,
                  index=True),
        sa.Column("agency_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("program", sa.String(64), nullable=True),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("screening_id", sa.Integer, nullable=True),
        sa.Column("judged_by", sa.String(200), nullable=False),
        sa.Column("judged_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("judgement")
    op.drop_index("ix_referral_eligible_on", table_name="referral")
    op.drop_index("ix_referral_status_deferred_until", table_name="referral")
    op.drop_index("ix_referral_agency_review", table_name="referral")
    with op.batch_alter_table("referral") as batch:
        for column in ("eligible_on", "pending_programs", "review_since", "review_reasons"):
            batch.drop_column(column)
