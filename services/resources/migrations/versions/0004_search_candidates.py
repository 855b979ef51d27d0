"""Directory search at scale: a names-only tsvector, a refresh sequence for bounded text ranking, a covering point index.

PostgreSQL only (the SQLite FTS5 default ranks every match, see ADR 0030):
- `name_document`: service and organization names as their own tsvector with a GIN index, so matches
  in a name (the words `ts_rank` weighs most) are always among the ranked candidates of a broad query;
- `refresh_seq`: an identity column, so the newest (re)built search rows can be walked in order from an
  index and a broad query stops reading after a bounded number of candidates. `refresh_search`
  deletes and re-inserts a service's row, so an edit or re-import gives it a new, higher number.

Both dialects: the point index also carries `service_id`, so the distance box is answered from the
index alone.

Revision ID: resources_0004
Revises: resources_0003
"""
from alembic import op

revision = "resources_0004"
down_revision = "resources_0003"
branch_labels = None
depends_on = None

PG_NAME_DOCUMENT = "to_tsvector('english', coalesce(name, '') || ' ' || coalesce(organization_name, ''))"


def upgrade() -> None:
    op.create_index("ix_service_search_point_box", "service_search_point", ["latitude", "longitude", "service_id"])
    op.drop_index("ix_service_search_point_lat_lon", table_name="service_search_point")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE service_search ADD COLUMN name_document tsvector "
                   f"GENERATED ALWAYS AS ({PG_NAME_DOCUMENT}) STORED")
        op.execute("CREATE INDEX ix_service_search_name_document ON service_search USING GIN (name_document)")
        op.execute("ALTER TABLE service_search ADD COLUMN refresh_seq bigint GENERATED ALWAYS AS IDENTITY")
        op.execute("CREATE INDEX ix_service_search_refresh_seq ON service_search (refresh_seq)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_service_search_refresh_seq")
        op.execute("ALTER TABLE service_search DROP COLUMN IF EXISTS refresh_seq")
        op.execute("DROP INDEX IF EXISTS ix_service_search_name_document")
        op.execute("ALTER TABLE service_search DROP COLUMN IF EXISTS name_document")
    op.create_index("ix_service_search_point_lat_lon", "service_search_point", ["latitude", "longitude"])
    op.drop_index("ix_service_search_point_box", table_name="service_search_point")
