"""Sealing and erasure (ADR 0083): record_mark (sealed cases and participants) and tombstone (erased ids).

Revision ID: casework_0021
Revises: casework_0019
"""
from alembic import op

from shared.records import create_record_tables, drop_record_tables

revision = "casework_0021"
down_revision = "casework_0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_record_tables(op)


def downgrade() -> None:
    drop_record_tables(op)
