"""Corrections with history: staff and participant versions, participant address and search key, the history.

Revision ID: casework_0011
Revises: casework_0003
"""
import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "casework_0011"
down_revision = "casework_0003"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def _fold(text: str) -> str:
    # The same rule as services.casework.domain.search.fold (a migration does not import the service).
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(unicodedata.normalize("NFKC", bare).split())


def upgrade() -> None:
    with op.batch_alter_table("staff") as batch:
        batch.add_column(sa.Column("phone", sa.String(30), nullable=True))
        batch.add_column(sa.Column("version", sa.Integer, nullable=False, server_default="1"))
        batch.add_column(sa.Column("deactivated_at", TZ, nullable=True))
    with op.batch_alter_table("participant") as batch:
        for name, length in (("address_line1", 200), ("address_line2", 200), ("city", 100), ("region", 100),
                             ("postal_code", 20)):
            batch.add_column(sa.Column(name, sa.String(length), nullable=True))
        batch.add_column(sa.Column("search_key", sa.String(210), nullable=False, server_default=""))
        batch.add_column(sa.Column("staff_set_fields", sa.JSON, nullable=False, server_default="[]"))
        batch.add_column(sa.Column("version", sa.Integer, nullable=False, server_default="1"))
        batch.add_column(sa.Column("updated_at", TZ, nullable=True))
        batch.create_index("ix_participant_search_key", ["search_key"])
    participant = sa.table("participant", sa.column("id", sa.String), sa.column("first_name", sa.String),
                           sa.column("last_name", sa.String), sa.column("search_key", sa.String))
    connection = op.get_bind()
    for pid, first, last in connection.execute(sa.select(participant.c.id, participant.c.first_name,
                                                         participant.c.last_name)).all():
        connection.execute(participant.update().where(participant.c.id == pid)
                           .values(search_key=_fold(f"{first} {last}")[:210]))
    op.create_table(
        "change_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("agency_id", sa.String(64), nullable=False),
        sa.Column("resource_type", sa.String(32), nullable=False),
        sa.Column("resource_id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("changed_at", TZ, nullable=False),
        sa.Column("changed_by", sa.String(200), nullable=False),
        sa.Column("changes", sa.JSON, nullable=False),
    )
    op.create_index("ix_change_resource", "change_history", ["agency_id", "resource_type", "resource_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_change_resource", table_name="change_history")
    op.drop_table("change_history")
    with op.batch_alter_table("participant") as batch:
        batch.drop_index("ix_participant_search_key")
        for name in ("updated_at", "version", "staff_set_fields", "search_key", "postal_code", "region", "city",
                     "address_line2", "address_line1"):
            batch.drop_column(name)
    with op.batch_alter_table("staff") as batch:
        for name in ("deactivated_at", "version", "phone"):
            batch.drop_column(name)
