"""The sealing ledger (ADR 0083) and the record marks and tombstones of sealed and erased referrals.

`sealing_ledger`: one row per sealing or erasure request intake started, with each service's confirmation
time (`confirmed`, JSON text {service: iso time}); `requested_at` NULL means a sealing that is not due yet.
`record_mark` / `tombstone`: shared/records.py.

Revision ID: intake_0021
Revises: intake_0018
"""
import sqlalchemy as sa
from alembic import op

from shared.records import create_record_tables, drop_record_tables
from shared.timestamps import UtcDateTime

revision = "intake_0021"
down_revision = "intake_0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sealing_ledger",
        sa.Column("request_id", sa.String(100), primary_key=True),
        sa.Column("agency_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("referral_id", sa.String(36), nullable=False),
        sa.Column("case_id", sa.String(100), nullable=True),
        sa.Column("pack_version", sa.String(64), nullable=True),
        sa.Column("disposition", sa.String(40), nullable=True),
        sa.Column("basis", sa.String(60), nullable=True),
        sa.Column("seal_due_at", UtcDateTime(), nullable=False),
        sa.Column("requested_at", UtcDateTime(), nullable=True),
        sa.Column("confirmed", sa.Text(), nullable=False, server_default="{}"),
        sa.Column("retries", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_sent_at", UtcDateTime(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_sealing_ledger_agency_referral", "sealing_ledger", ["agency_id", "referral_id"])
    create_record_tables(op)


def downgrade() -> None:
    drop_record_tables(op)
    op.drop_index("ix_sealing_ledger_agency_referral", table_name="sealing_ledger")
    op.drop_table("sealing_ledger")
