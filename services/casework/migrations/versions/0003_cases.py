"""Cases: participants, cases and assignment history, plans, supervision, consents, disclosures, alerts.

Revision ID: casework_0003
Revises: casework_0002
"""
import sqlalchemy as sa
from alembic import op

revision = "casework_0003"
down_revision = "casework_0002"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("staff", sa.Column("subject", sa.String(200), nullable=True))
    op.create_table(
        "agency_config",
        sa.Column("agency_id", sa.String(64), primary_key=True),
        sa.Column("assignment_strategy", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
    )
    op.create_table(
        "participant",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("agency_id", sa.String(64), nullable=False, index=True),
        sa.Column("first_name", sa.String(100), nullable=False),
        sa.Column("last_name", sa.String(100), nullable=False),
        sa.Column("date_of_birth", sa.Date, nullable=False),
        sa.Column("phone", sa.String(30)),
        sa.Column("email", sa.String(254)),
        sa.Column("preferred_language", sa.String(20), nullable=False),
        sa.Column("sex", sa.String(40)),
        sa.Column("race", sa.String(80)),
        sa.Column("ethnicity", sa.String(80)),
        sa.Column("age_at_referral", sa.Integer),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_table(
        "diversion_case",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("agency_id", sa.String(64), nullable=False),
        sa.Column("referral_id", sa.String(100), nullable=False),
        sa.Column("case_number", sa.String(100), nullable=False),
        sa.Column("participant_id", sa.String(64), sa.ForeignKey("participant.id"), nullable=False),
        sa.Column("program_id", sa.String(64), nullable=False),
        sa.Column("min_months", sa.Integer, nullable=False),
        sa.Column("max_months", sa.Integer, nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("case_manager_id", sa.String(64)),
        sa.Column("referred_on", sa.Date),
        sa.Column("opened_on", sa.Date, nullable=False),
        sa.Column("start_date", sa.Date),
        sa.Column("expected_end_date", sa.Date),
        sa.Column("closed_on", sa.Date),
        sa.Column("disposition", sa.String(32)),
        sa.Column("termination_reason", sa.String(64)),
        sa.Column("termination_detail", sa.Text),
        sa.Column("withdrawal_reason", sa.Text),
        sa.Column("override", sa.JSON),
        sa.Column("extensions", sa.Integer, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.UniqueConstraint("agency_id", "referral_id", name="uq_case_agency_referral"),
    )
    op.create_index("ix_case_agency_state", "diversion_case", ["agency_id", "state"])
    op.create_index("ix_case_manager_state", "diversion_case", ["case_manager_id", "state"])
    op.create_table(
        "case_assignment",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("agency_id", sa.String(64), nullable=False),
        sa.Column("case_id", sa.String(64), sa.ForeignKey("diversion_case.id"), nullable=False, index=True),
        sa.Column("case_manager_id", sa.String(64), nullable=False, index=True),
        sa.Column("previous_case_manager_id", sa.String(64)),
        sa.Column("assigned_at", TZ, nullable=False),
        sa.Column("assigned_by", sa.String(200)),
        sa.Column("strategy", sa.String(64)),
        sa.Column("reason", sa.Text),
    )
    op.create_table(
        "assessment",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("agency_id", sa.String(64), nullable=False),
        sa.Column("case_id", sa.String(64), sa.ForeignKey("diversion_case.id"), nullable=False, index=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("assessed_on", sa.Date, nullable=False),
        sa.Column("assessed_by", sa.String(200), nullable=False),
        sa.Column("domains", sa.JSON, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.UniqueConstraint("case_id", "version", name="uq_assessment_version"),
    )
    op.create_table(
        "plan_version",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("agency_id", sa.String(64), nullable=False),
        sa.Column("case_id", sa.String(64), sa.ForeignKey("diversion_case.id"), nullable=False, index=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("goals", sa.JSON, nullable=False),
        sa.Column("change", sa.String(64), nullable=False),
        sa.Column("updated_on", sa.Date, nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.UniqueConstraint("case_id", "version", name="uq_plan_version"),
    )
    op.create_table(
        "plan_referral_link",
        sa.Column("agency_id", sa.String(64), primary_key=True),
        sa.Column("service_referral_id", sa.String(100), primary_key=True),
        sa.Column("case_id", sa.String(64), sa.ForeignKey("diversion_case.id"), primary_key=True),
    )
    op.create_table(
        "case_condition",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("agency_id", sa.String(64), nullable=False),
        sa.Column("case_id", sa.String(64), sa.ForeignKey("diversion_case.id"), nullable=False, index=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("unit", sa.String(16)),
        sa.Column("required_amount", sa.Numeric(12, 2)),
        sa.Column("completed_amount", sa.Numeric(12, 2), nullable=False),
        sa.Column("met", sa.Boolean, nullable=False),
        sa.Column("met_on", sa.Date),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_table(
        "case_contact",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("agency_id", sa.String(64), nullable=False),
        sa.Column("case_id", sa.String(64), sa.ForeignKey("diversion_case.id"), nullable=False, index=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("scheduled_for", TZ, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("completed_at", TZ),
        sa.Column("notes", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_index("ix_contact_status_time", "case_contact", ["status", "scheduled_for"])
    op.create_table(
        "appointment",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("agency_id", sa.String(64), nullable=False),
        sa.Column("case_id", sa.String(64), sa.ForeignKey("diversion_case.id"), nullable=False, index=True),
        sa.Column("starts_at", TZ, nullable=False),
        sa.Column("ends_at", TZ),
        sa.Column("kind", sa.String(50), nullable=False),
        sa.Column("with_whom", sa.String(200), nullable=False),
        sa.Column("location", sa.String(300)),
        sa.Column("service_referral_id", sa.String(100)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_table(
        "incident",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("agency_id", sa.String(64), nullable=False),
        sa.Column("case_id", sa.String(64), sa.ForeignKey("diversion_case.id"), nullable=False, index=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("occurred_on", sa.Date, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("response", sa.String(32), nullable=False),
        sa.Column("suggested_response", sa.String(32), nullable=False),
        sa.Column("responded_by", sa.String(200), nullable=False),
        sa.Column("contact_id", sa.String(64)),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_table(
        "consent",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("agency_id", sa.String(64), nullable=False),
        sa.Column("participant_id", sa.String(64), sa.ForeignKey("participant.id"), nullable=False, index=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("participant_name", sa.String(200), nullable=False),
        sa.Column("discloser", sa.String(300), nullable=False),
        sa.Column("categories", sa.JSON, nullable=False),
        sa.Column("recipient_org_id", sa.String(200), nullable=False),
        sa.Column("recipient_name", sa.String(300), nullable=False),
        sa.Column("purposes", sa.JSON, nullable=False),
        sa.Column("right_to_revoke_acknowledged", sa.Boolean, nullable=False),
        sa.Column("revocation_instructions", sa.Text, nullable=False),
        sa.Column("expires_on", sa.Date),
        sa.Column("expiry_event", sa.String(40)),
        sa.Column("revocable_on", sa.Date),
        sa.Column("revocable_upon", sa.String(40)),
        sa.Column("signature", sa.JSON),
        sa.Column("effective_on", sa.Date),
        sa.Column("revoked_on", sa.Date),
        sa.Column("revoked_by", sa.String(200)),
        sa.Column("revocation_method", sa.String(100)),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
    )
    op.create_table(
        "disclosure_log",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("agency_id", sa.String(64), nullable=False, index=True),
        sa.Column("participant_id", sa.String(64), nullable=False, index=True),
        sa.Column("consent_id", sa.String(64), nullable=False),
        sa.Column("recipient_org_id", sa.String(200), nullable=False),
        sa.Column("categories", sa.JSON, nullable=False),
        sa.Column("purpose", sa.String(40), nullable=False),
        sa.Column("disclosed_at", TZ, nullable=False),
        sa.Column("disclosed_by", sa.String(200), nullable=False),
        sa.Column("notice", sa.Text, nullable=False),
    )
    op.create_table(
        "supervision_alert",
        sa.Column("dedup_key", sa.String(300), primary_key=True),
        sa.Column("agency_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("case_id", sa.String(64), nullable=False, index=True),
        sa.Column("event_id", sa.String(100), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )


def downgrade() -> None:
    for table in ("supervision_alert", "disclosure_log", "consent", "incident", "appointment"):
        op.drop_table(table)
    op.drop_index("ix_contact_status_time", table_name="case_contact")
    for table in ("case_contact", "case_condition", "plan_referral_link", "plan_version", "assessment",
                  "case_assignment"):
        op.drop_table(table)
    op.drop_index("ix_case_manager_state", table_name="diversion_case")
    op.drop_index("ix_case_agency_state", table_name="diversion_case")
    for table in ("diversion_case", "participant", "agency_config"):
        op.drop_table(table)
    with op.batch_alter_table("staff") as batch:
        batch.drop_column("subject")
