"""The send-time consent check (ADR 0070): notifications' copy of consents and what each delivery discloses.

Revision ID: notifications_0020
Revises: notifications_0019
"""
import sqlalchemy as sa
from alembic import op

revision = "notifications_0020"
down_revision = "notifications_0019"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "partner_consent",
        sa.Column("consent_id", sa.String(100), primary_key=True),
        sa.Column("agency_id", sa.String(64), nullable=False),
        sa.Column("participant_id", sa.String(100), nullable=False),
        sa.Column("person_id", sa.String(100), nullable=False),
        sa.Column("recipient_org_id", sa.String(200), nullable=False),
        sa.Column("categories", sa.JSON, nullable=False),
        sa.Column("purposes", sa.JSON, nullable=False),
        sa.Column("valid", sa.Boolean, nullable=False),
        sa.Column("effective_on", sa.Date),
        sa.Column("expires_on", sa.Date),
        sa.Column("revoked_on", sa.Date),
        sa.Column("expired", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("changed_at", TZ, nullable=False),
    )
    op.create_index("ix_partner_consent_person", "partner_consent", ["agency_id", "person_id"])
    with op.batch_alter_table("delivery") as batch:
        batch.add_column(sa.Column("consent_id", sa.String(100)))
        batch.add_column(sa.Column("disclosure_categories", sa.JSON))
        batch.add_column(sa.Column("disclosure_purpose", sa.String(40)))


def downgrade() -> None:
    with op.batch_alter_table("delivery") as batch:
        batch.drop_column("disclosure_purpose")
        batch.drop_column("disclosure_categories")
        batch.drop_column("consent_id")
    op.drop_index("ix_partner_consent_person", table_name="partner_consent")
    op.drop_table("partner_consent")
