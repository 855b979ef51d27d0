"""Referrals: rulesets, referral, defendant, charge, criminal history, screening (append-only), decision.

Revision ID: intake_0003
Revises: intake_0002
"""
import sqlalchemy as sa
from alembic import op

revision = "intake_0003"
down_revision = "intake_0002"
branch_labels = None
depends_on = None


def _referral_fk() -> sa.ForeignKey:
    return sa.ForeignKey("referral.id", ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "ruleset",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("agency_id", sa.String(64), nullable=False, index=True),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("content_hash", sa.String(80), nullable=False),
        sa.Column("pack", sa.JSON, nullable=False),
        sa.Column("installed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("installed_by", sa.String(200), nullable=False),
        sa.UniqueConstraint("agency_id", "version", name="uq_ruleset_agency_version"),
    )
    op.create_table(
        "referral",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("agency_id", sa.String(64), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("case_number", sa.String(64), nullable=False),
        sa.Column("case_key", sa.String(64), nullable=False),
        sa.Column("person_key", sa.String(300), nullable=False),
        sa.Column("external_id", sa.String(100), nullable=True),
        sa.Column("import_key", sa.String(200), nullable=True),
        sa.Column("offense_date", sa.Date, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("recommendation", sa.String(20), nullable=False),
        sa.Column("eligible_programs", sa.String(2000), nullable=False),
        sa.Column("program", sa.String(64), nullable=True),
        sa.Column("deferred_until", sa.Date, nullable=True),
        sa.Column("disposition", sa.String(40), nullable=True),
        sa.Column("disposition_reason", sa.String(40), nullable=True),
        sa.Column("disposed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("case_id", sa.String(100), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_by", sa.String(200), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("agency_id", "import_key", name="uq_referral_agency_import_key"),
    )
    op.create_index("ix_referral_agency_received", "referral", ["agency_id", "received_at", "id"])
    op.create_index("ix_referral_agency_case_key", "referral", ["agency_id", "case_key"])
    op.create_index("ix_referral_agency_person_key", "referral", ["agency_id", "person_key"])
    op.create_table(
        "defendant",
        sa.Column("referral_id", sa.String(36), _referral_fk(), primary_key=True),
        sa.Column("agency_id", sa.String(64), nullable=False),
        sa.Column("first_name", sa.String(100), nullable=False),
        sa.Column("last_name", sa.String(100), nullable=False),
        sa.Column("date_of_birth", sa.Date, nullable=False),
        sa.Column("sex", sa.String(60), nullable=True),
        sa.Column("race", sa.String(60), nullable=True),
        sa.Column("ethnicity", sa.String(60), nullable=True),
        sa.Column("phone", sa.String(25), nullable=True),
        sa.Column("email", sa.String(254), nullable=True),
        sa.Column("address", sa.JSON, nullable=True),
        sa.Column("preferred_language", sa.String(10), nullable=False),
    )
    op.create_table(
        "charge",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("referral_id", sa.String(36), _referral_fk(), nullable=False, index=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("statute", sa.String(40), nullable=False),
        sa.Column("description", sa.String(200), nullable=False),
        sa.Column("offense_class", sa.String(20), nullable=False),
        sa.Column("offense_date", sa.Date, nullable=False),
        sa.Column("violent", sa.Boolean, nullable=True),
    )
    op.create_table(
        "criminal_history",
        sa.Column("referral_id", sa.String(36), _referral_fk(), primary_key=True),
        sa.Column("convictions", sa.JSON, nullable=False),
        sa.Column("prior_diversions", sa.JSON, nullable=False),
        sa.Column("pending_cases", sa.Integer, nullable=False),
    )
    op.create_table(
        "screening",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("referral_id", sa.String(36), _referral_fk(), nullable=False, index=True),
        sa.Column("agency_id", sa.String(64), nullable=False),
        sa.Column("ruleset_version", sa.String(64), nullable=False),
        sa.Column("ruleset_hash", sa.String(80), nullable=False),
        sa.Column("screened_on", sa.Date, nullable=False),
        sa.Column("recommendation", sa.String(20), nullable=False),
        sa.Column("result", sa.JSON, nullable=False),
        sa.Column("trigger", sa.String(20), nullable=False),
        sa.Column("screened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("screened_by", sa.String(200), nullable=False),
    )
    op.create_table(
        "decision",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("referral_id", sa.String(36), _referral_fk(), nullable=False, index=True),
        sa.Column("agency_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("program", sa.String(64), nullable=True),
        sa.Column("reason_code", sa.String(64), nullable=True),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("override", sa.Boolean, nullable=False),
        sa.Column("deferred_until", sa.Date, nullable=True),
        sa.Column("screening_id", sa.Integer, nullable=True),
        sa.Column("ruleset_version", sa.String(64), nullable=True),
        sa.Column("decided_by", sa.String(200), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    for table in ("decision", "screening", "criminal_history", "charge", "defendant"):
        op.drop_table(table)
    op.drop_index("ix_referral_agency_person_key", table_name="referral")
    op.drop_index("ix_referral_agency_case_key", table_name="referral")
    op.drop_index("ix_referral_agency_received", table_name="referral")
    op.drop_table("referral")
    op.drop_table("ruleset")
