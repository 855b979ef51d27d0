"""Sealing and erasure (ADR 0083): record marks and tombstones, and the links that find a case's rows
(each delivery's case and trigger subject, each contact's participant).

Revision ID: notifications_0021
Revises: notifications_0020
"""
import sqlalchemy as sa
from alembic import op

from shared.records import create_record_tables, drop_record_tables

revision = "notifications_0021"
down_revision = "notifications_0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_record_tables(op)
    with op.batch_alter_table("delivery") as batch:
        batch.add_column(sa.Column("case_id", sa.String(100)))
        batch.add_column(sa.Column("subject_id", sa.String(200)))
    op.create_index("ix_delivery_case", "delivery", ["agency_id", "case_id"])
    op.create_index("ix_delivery_subject", "delivery", ["agency_id", "subject_id"])
    with op.batch_alter_table("contact_preference") as batch:
        batch.add_column(sa.Column("participant_id", sa.String(100)))


def downgrade() -> None:
    with op.batch_alter_table("contact_preference") as batch:
        batch.drop_column("participant_id")
    op.drop_index("ix_delivery_subject", table_name="delivery")
    op.drop_index("ix_delivery_case", table_name="delivery")
    with op.batch_alter_table("delivery") as batch:
        batch.drop_column("subject_id")
        batch.drop_column("case_id")
    drop_record_tables(op)
