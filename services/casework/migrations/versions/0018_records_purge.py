"""The audit trail stays append-only but lets the records upkeep delete entries past one year (ADR 0082).

On PostgreSQL the trigger function lets a DELETE through only in a transaction that set
`diversion.records_purge` and only for an entry older than 365 days by the database's clock; on SQLite a
row in `audit_purge_permit` (written and removed inside the purge's transaction) does the same.

Revision ID: casework_0018
Revises: casework_0015
"""
from alembic import op

from shared.upkeep import allow_purge_of_audit, refuse_purge_of_audit

revision = "casework_0018"
down_revision = "casework_0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    allow_purge_of_audit(op)


def downgrade() -> None:
    refuse_purge_of_audit(op)
