"""Reminders per appointment time (a reschedule plans new ones), appointment versions, pending staff notices.

Revision ID: notifications_0013
Revises: notifications_0011
"""
import sqlalchemy as sa
from alembic import op

revision = "notifications_0013"
down_revision = "notifications_0011"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)
BigId = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("reminder") as batch:
        batch.drop_constraint("uq_reminder_offset", type_="unique")
        batch.create_unique_constraint("uq_reminder_slot",
                                       ["agency_id", "appointment_id", "offset_minutes", "appointment_at"])
    op.create_table(
        "appointment_state",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("agency_id", sa.String(64), nullable=False),
        sa.Column("appointment_id", sa.String(100), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.UniqueConstraint("agency_id", "appointment_id", name="uq_appointment_state"),
    )
    op.create_table(
        "pending_staff_notice",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("agency_id", sa.String(64), nullable=False),
        sa.Column("staff_id", sa.String(200), nullable=False),
        sa.Column("topic", sa.String(64), nullable=False),
        sa.Column("trigger_event_id", sa.String(200), nullable=False),
        sa.Column("trigger_event_type", sa.String(200), nullable=False),
        sa.Column("context", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("settled_at", TZ, nullable=True),
        sa.UniqueConstraint("trigger_event_id", "staff_id", name="uq_pending_staff_notice"),
    )
    op.create_index("ix_pending_staff_notice_staff", "pending_staff_notice", ["agency_id", "staff_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_pending_staff_notice_staff", table_name="pending_staff_notice")
    op.drop_table("pending_staff_notice")
    op.drop_table("appointment_state")
    with op.batch_alter_table("reminder") as batch:
        batch.drop_constraint("uq_reminder_slot", type_="unique")
        batch.create_unique_constraint("uq_reminder_offset", ["agency_id", "appointment_id", "offset_minutes"])
