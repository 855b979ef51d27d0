"""One person across cases and the accounting of disclosures (ADR 0071): participant.person_id, the link
history, and disclosure_record.

Revision ID: casework_0015
Revises: casework_0013
"""
import sqlalchemy as sa
from alembic import op

revision = "casework_0015"
down_revision = "casework_0013"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("participant") as batch:
        batch.add_column(sa.Column("person_id", sa.String(64), nullable=True))
        batch.create_index("ix_participant_person_id", ["person_id"])
    op.create_table(
        "participant_link",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("agency_id", sa.String(64), nullable=False, index=True),
        sa.Column("participant_id", sa.String(64), nullable=False, index=True),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("linked_by", sa.String(200), nullable=False),
        sa.Column("linked_at", TZ, nullable=False),
        sa.Column("unlinked_by", sa.String(200)),
        sa.Column("unlinked_at", TZ),
        sa.Column("unlink_reason", sa.Text),
    )
    op.create_table(
        "disclosure_record",
        sa.Column("id", sa.String(100), primary_key=True),
        sa.Column("agency_id", sa.String(64), nullable=False),
        sa.Column("participant_id", sa.String(100)),
        sa.Column("case_id", sa.String(100)),
        sa.Column("service_referral_id", sa.String(100)),
        sa.Column("recipient_org_id", sa.String(200)),
        sa.Column("recipient_name", sa.String(300)),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("categories", sa.JSON, nullable=False),
        sa.Column("purpose", sa.String(40)),
        sa.Column("consent_id", sa.String(100)),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(300)),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("occurred_at", TZ, nullable=False),
        sa.Column("recorded_at", TZ, nullable=False),
    )
    op.create_index("ix_disclosure_record_participant", "disclosure_record", ["agency_id", "participant_id"])
    op.create_index("ix_disclosure_record_referral", "disclosure_record", ["agency_id", "service_referral_id"])


def downgrade() -> None:
    op.drop_index("ix_disclosure_record_referral", table_name="disclosure_record")
    op.drop_index("ix_disclosure_record_participant", table_name="disclosure_record")
    op.drop_table("disclosure_record")
    op.drop_table("participant_link")
    with op.batch_alter_table("participant") as batch:
        batch.drop_index("ix_participant_person_id")
        batch.drop_column("person_id")
