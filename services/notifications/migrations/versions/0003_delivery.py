"""Deliveries and their attempts, reminders, contact preferences and opt-outs, staff contacts, templates;
signing secrets and versions on subscriptions.

Revision ID: notifications_0003
Revises: notifications_0002
"""
import sqlalchemy as sa
from alembic import op

revision = "notifications_0003"
down_revision = "notifications_0002"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer, "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("subscription") as batch:
        batch.add_column(sa.Column("description", sa.String(500)))
        batch.add_column(sa.Column("secret", sa.String(200)))
        batch.add_column(sa.Column("previous_secret", sa.String(200)))
        batch.add_column(sa.Column("previous_secret_expires_at", TS))
        batch.add_column(sa.Column("disabled_reason", sa.String(500)))
        batch.add_column(sa.Column("version", sa.Integer, nullable=False, server_default="1"))
        batch.add_column(sa.Column("updated_at", TS))
    op.create_table(
        "delivery",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("agency_id", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("purpose", sa.String(64), nullable=False),
        sa.Column("subscription_id", sa.String(64), index=True),
        sa.Column("org_id", sa.String(64)),
        sa.Column("recipient", sa.String(2000), nullable=False),
        sa.Column("target_key", sa.String(200), nullable=False),
        sa.Column("trigger_event_id", sa.String(200), nullable=False),
        sa.Column("trigger_event_type", sa.String(200), nullable=False),
        sa.Column("subject", sa.String(500)),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("html", sa.Text),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("round_attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", TS),
        sa.Column("lease_until", TS),
        sa.Column("last_status_code", sa.Integer),
        sa.Column("last_error", sa.String(2000)),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("delivered_at", TS),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.UniqueConstraint("trigger_event_id", "target_key", name="uq_delivery_trigger_target"),
    )
    op.create_index("ix_delivery_due", "delivery", ["status", "next_attempt_at"])
    op.create_index("ix_delivery_agency_created", "delivery", ["agency_id", "created_at"])
    op.create_table(
        "delivery_attempt",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("delivery_id", sa.String(64), sa.ForeignKey("delivery.id", ondelete="CASCADE"), nullable=False),
        sa.Column("attempt_number", sa.Integer, nullable=False),
        sa.Column("attempted_at", TS, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("status_code", sa.Integer),
        sa.Column("latency_ms", sa.Float),
        sa.Column("error", sa.String(2000)),
    )
    op.create_index("ix_delivery_attempt_delivery", "delivery_attempt", ["delivery_id", "attempt_number"])
    op.create_table(
        "reminder",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("agency_id", sa.String(64), nullable=False),
        sa.Column("appointment_id", sa.String(100), nullable=False),
        sa.Column("case_id", sa.String(100), nullable=False),
        sa.Column("offset_minutes", sa.Integer, nullable=False),
        sa.Column("send_at", TS, nullable=False),
        sa.Column("appointment_at", TS, nullable=False),
        sa.Column("location", sa.String(300)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("skip_reason", sa.String(200)),
        sa.Column("delivery_id", sa.String(64)),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.UniqueConstraint("agency_id", "appointment_id", "offset_minutes", name="uq_reminder_offset"),
    )
    op.create_index("ix_reminder_due", "reminder", ["status", "send_at"])
    op.create_table(
        "contact_preference",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("agency_id", sa.String(64), nullable=False),
        sa.Column("case_id", sa.String(100), nullable=False),
        sa.Column("first_name", sa.String(100)),
        sa.Column("phone", sa.String(30)),
        sa.Column("email", sa.String(254)),
        sa.Column("language", sa.String(20)),
        sa.Column("channel", sa.String(16)),
        sa.Column("do_not_contact", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("updated_at", TS, nullable=False),
        sa.UniqueConstraint("agency_id", "case_id", name="uq_contact_preference_case"),
    )
    op.create_table(
        "sms_opt_out",
        sa.Column("phone", sa.String(30), primary_key=True),
        sa.Column("opted_out", sa.Boolean, nullable=False),
        sa.Column("changed_at", TS, nullable=False),
        sa.Column("keyword", sa.String(20), nullable=False),
    )
    op.create_table(
        "staff_contact",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("agency_id", sa.String(64), nullable=False),
        sa.Column("staff_id", sa.String(200), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("name", sa.String(200)),
        sa.Column("language", sa.String(20)),
        sa.Column("topics", sa.JSON, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("updated_at", TS, nullable=False),
        sa.UniqueConstraint("agency_id", "staff_id", name="uq_staff_contact"),
    )
    op.create_table(
        "case_assignment",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("agency_id", sa.String(64), nullable=False),
        sa.Column("case_id", sa.String(100), nullable=False),
        sa.Column("case_manager", sa.String(200), nullable=False),
        sa.Column("assigned_at", TS, nullable=False),
        sa.UniqueConstraint("agency_id", "case_id", name="uq_case_assignment"),
    )
    op.create_table(
        "template_override",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("agency_id", sa.String(64), nullable=False),
        sa.Column("key", sa.String(120), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.UniqueConstraint("agency_id", "key", name="uq_template_override"),
    )


def downgrade() -> None:
    for table in ("template_override", "case_assignment", "staff_contact", "sms_opt_out", "contact_preference"):
        op.drop_table(table)
    op.drop_index("ix_reminder_due", "reminder")
    op.drop_table("reminder")
    op.drop_index("ix_delivery_attempt_delivery", "delivery_attempt")
    op.drop_table("delivery_attempt")
    op.drop_index("ix_delivery_agency_created", "delivery")
    op.drop_index("ix_delivery_due", "delivery")
    op.drop_table("delivery")
    with op.batch_alter_table("subscription") as batch:
        for column in ("updated_at", "version", "disabled_reason", "previous_secret_expires_at",
                       "previous_secret", "secret", "description"):
            batch.drop_column(column)
