"""Screening results compressed with lz4 on PostgreSQL (new rows; the column's type and content are unchanged).

A screening result is some 4 KB of JSON, over the 2 KB at which PostgreSQL compresses a value: with the default
pglz, compressing it was the largest single cost of storing a batch of referrals; lz4 compresses it several
times faster. PostgreSQL 14 or later built with lz4 (the Debian and official images are); otherwise, and on
SQLite, nothing changes.

Revision ID: intake_0005
Revises: intake_0004
"""
import sqlalchemy as sa
from alembic import op

revision = "intake_0005"
down_revision = "intake_0004"
branch_labels = None
depends_on = None


def _lz4_available(bind: sa.engine.Connection) -> bool:
    if bind.dialect.name != "postgresql" or bind.dialect.server_version_info < (14,):
        return False
    values = bind.execute(sa.text("SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'"))
    return "lz4" in (values.scalar() or [])


def upgrade() -> None:
    bind = op.get_bind()
    if _lz4_available(bind):
        op.execute("ALTER TABLE screening ALTER COLUMN result SET COMPRESSION lz4")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql" and bind.dialect.server_version_info >= (14,):
        op.execute("ALTER TABLE screening ALTER COLUMN result SET COMPRESSION default")
