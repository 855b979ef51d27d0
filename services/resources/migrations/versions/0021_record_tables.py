"""Sealed marks and erasure tombstones (issue 16 items 2 and 4; ADR 0083): `record_mark`, `tombstone`.

Revision ID: resources_0021
Revises: resources_0019
"""
from alembic import op

from shared.records import create_record_tables, drop_record_tables

revision = "resources_0021"
down_revision = "resources_0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_record_tables(op)


def downgrade() -> None:
    drop_record_tables(op)
