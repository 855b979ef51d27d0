"""The HSDS 3.0 directory in full, its search index (PostgreSQL tsvector/GIN, SQLite FTS5) and service referrals.

Revision ID: resources_0003
Revises: resources_0002
"""
import sqlalchemy as sa
from alembic import op

revision = "resources_0003"
down_revision = "resources_0002"
branch_labels = None
depends_on = None

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

ORGANIZATION_COLUMNS = (
    ("tax_status", sa.Text),
    ("tax_id", sa.Text),
    ("year_incorporated", sa.Float),
    ("legal_status", sa.Text),
    ("logo", sa.Text),
    ("uri", sa.Text),
    ("parent_organization_id", sa.String(36)),
)
HSDS_TABLES = (
    "attribute", "taxonomy_term", "taxonomy", "service_area", "language", "schedule", "phone", "contact",
    "address", "service_at_location", "location", "service",
)

# What full-text search reads, weighted: names first, need labels next, descriptions last.
PG_DOCUMENT = (
    "setweight(to_tsvector('english', coalesce(name, '')), 'A') || "
    "setweight(to_tsvector('english', coalesce(organization_name, '')), 'A') || "
    "setweight(to_tsvector('english', coalesce(need_labels, '')), 'B') || "
    "setweight(to_tsvector('english', coalesce(description, '')), 'C')"
)
SQLITE_FTS = (
    "CREATE VIRTUAL TABLE service_search_fts USING fts5("
    "name, organization_name, need_labels, description, "
    "content='service_search', content_rowid='rowid', tokenize='porter unicode61')"
)
_FTS_COLUMNS = "name, organization_name, need_labels, description"
SQLITE_TRIGGERS = (
    f"CREATE TRIGGER service_search_ai AFTER INSERT ON service_search BEGIN "
    f"INSERT INTO service_search_fts(rowid, {_FTS_COLUMNS}) "
    f"VALUES (new.rowid, new.name, new.organization_name, new.need_labels, new.description); END",
    f"CREATE TRIGGER service_search_ad AFTER DELETE ON service_search BEGIN "
    f"INSERT INTO service_search_fts(service_search_fts, rowid, {_FTS_COLUMNS}) "
    f"VALUES ('delete', old.rowid, old.name, old.organization_name, old.need_labels, old.description); END",
    f"CREATE TRIGGER service_search_au AFTER UPDATE ON service_search BEGIN "
    f"INSERT INTO service_search_fts(service_search_fts, rowid, {_FTS_COLUMNS}) "
    f"VALUES ('delete', old.rowid, old.name, old.organization_name, old.need_labels, old.description); "
    f"INSERT INTO service_search_fts(rowid, {_FTS_COLUMNS}) "
    f"VALUES (new.rowid, new.name, new.organization_name, new.need_labels, new.description); END",
)


def upgrade() -> None:
    for name, type_ in ORGANIZATION_COLUMNS:
        op.add_column("organization", sa.Column(name, type_))
    op.create_table(
        "service",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("organization_id", sa.String(36), nullable=False, index=True),
        sa.Column("program_id", sa.String(36)),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("alternate_name", sa.Text),
        sa.Column("description", sa.Text),
        sa.Column("url", sa.Text),
        sa.Column("email", sa.Text),
        sa.Column("status", sa.String(40)),
        sa.Column("interpretation_services", sa.Text),
        sa.Column("application_process", sa.Text),
        sa.Column("fees_description", sa.Text),
        sa.Column("wait_time", sa.Text),
        sa.Column("fees", sa.Text),
        sa.Column("accreditations", sa.Text),
        sa.Column("eligibility_description", sa.Text),
        sa.Column("minimum_age", sa.Float),
        sa.Column("maximum_age", sa.Float),
        sa.Column("assured_date", sa.Date),
        sa.Column("assurer_email", sa.Text),
        sa.Column("licenses", sa.Text),
        sa.Column("alert", sa.Text),
        sa.Column("last_modified", sa.DateTime(timezone=True)),
        sa.Column("capacity", sa.String(20), nullable=False, server_default="accepting"),
        sa.Column("referral_sla_hours", sa.Float),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    )
    op.create_table(
        "location",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("location_type", sa.String(40), nullable=False),
        sa.Column("url", sa.Text),
        sa.Column("organization_id", sa.String(36), index=True),
        sa.Column("name", sa.Text),
        sa.Column("alternate_name", sa.Text),
        sa.Column("description", sa.Text),
        sa.Column("transportation", sa.Text),
        sa.Column("latitude", sa.Float),
        sa.Column("longitude", sa.Float),
        sa.Column("external_identifier", sa.Text),
        sa.Column("external_identifier_type", sa.Text),
    )
    op.create_table(
        "service_at_location",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("service_id", sa.String(36), nullable=False, index=True),
        sa.Column("location_id", sa.String(36), nullable=False, index=True),
        sa.Column("description", sa.Text),
    )
    op.create_table(
        "address",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("location_id", sa.String(36), index=True),
        sa.Column("attention", sa.Text),
        sa.Column("address_1", sa.Text, nullable=False),
        sa.Column("address_2", sa.Text),
        sa.Column("city", sa.Text, nullable=False),
        sa.Column("region", sa.Text),
        sa.Column("state_province", sa.Text, nullable=False),
        sa.Column("postal_code", sa.Text, nullable=False),
        sa.Column("country", sa.Text, nullable=False),
        sa.Column("address_type", sa.String(40), nullable=False),
    )
    op.create_table(
        "contact",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("organization_id", sa.String(36), index=True),
        sa.Column("service_id", sa.String(36), index=True),
        sa.Column("service_at_location_id", sa.String(36), index=True),
        sa.Column("location_id", sa.String(36), index=True),
        sa.Column("name", sa.Text),
        sa.Column("title", sa.Text),
        sa.Column("department", sa.Text),
        sa.Column("email", sa.Text),
    )
    op.create_table(
        "phone",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("location_id", sa.String(36), index=True),
        sa.Column("service_id", sa.String(36), index=True),
        sa.Column("organization_id", sa.String(36), index=True),
        sa.Column("contact_id", sa.String(36), index=True),
        sa.Column("service_at_location_id", sa.String(36), index=True),
        sa.Column("number", sa.Text, nullable=False),
        sa.Column("extension", sa.Float),
        sa.Column("type", sa.Text),
        sa.Column("description", sa.Text),
    )
    op.create_table(
        "schedule",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("service_id", sa.String(36), index=True),
        sa.Column("location_id", sa.String(36), index=True),
        sa.Column("service_at_location_id", sa.String(36), index=True),
        sa.Column("valid_from", sa.Date),
        sa.Column("valid_to", sa.Date),
        sa.Column("dtstart", sa.Date),
        sa.Column("timezone", sa.Float),
        sa.Column("until", sa.Date),
        sa.Column("count", sa.Float),
        sa.Column("wkst", sa.String(40)),
        sa.Column("freq", sa.String(40)),
        sa.Column("interval", sa.Float),
        sa.Column("byday", sa.Text),
        sa.Column("byweekno", sa.Text),
        sa.Column("bymonthday", sa.Text),
        sa.Column("byyearday", sa.Text),
        sa.Column("description", sa.Text),
        sa.Column("opens_at", sa.Time),
        sa.Column("closes_at", sa.Time),
        sa.Column("schedule_link", sa.Text),
        sa.Column("attending_type", sa.Text),
        sa.Column("notes", sa.Text),
    )
    op.create_table(
        "language",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("service_id", sa.String(36), index=True),
        sa.Column("location_id", sa.String(36), index=True),
        sa.Column("phone_id", sa.String(36), index=True),
        sa.Column("name", sa.Text),
        sa.Column("code", sa.Text),
        sa.Column("note", sa.Text),
    )
    op.create_table(
        "service_area",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("service_id", sa.String(36), index=True),
        sa.Column("name", sa.Text),
        sa.Column("description", sa.Text),
        sa.Column("extent", sa.Text),
        sa.Column("extent_type", sa.Text),
        sa.Column("uri", sa.Text),
    )
    op.create_table(
        "taxonomy",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("uri", sa.Text),
        sa.Column("version", sa.Text),
    )
    op.create_table(
        "taxonomy_term",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("code", sa.Text),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("parent_id", sa.String(36), index=True),
        sa.Column("taxonomy", sa.Text),
        sa.Column("language", sa.Text),
        sa.Column("taxonomy_id", sa.String(36), index=True),
        sa.Column("term_uri", sa.Text),
    )
    op.create_table(
        "attribute",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("link_id", sa.String(36), nullable=False, index=True),
        sa.Column("taxonomy_term_id", sa.String(36), nullable=False, index=True),
        sa.Column("link_type", sa.Text),
        sa.Column("link_entity", sa.Text, nullable=False),
        sa.Column("value", sa.Text),
    )

    op.create_table(
        "service_search",
        sa.Column("service_id", sa.String(36), primary_key=True),
        sa.Column("organization_id", sa.String(64), nullable=False, index=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("organization_name", sa.Text, nullable=False),
        sa.Column("need_labels", sa.Text, nullable=False, server_default=""),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("status", sa.String(40), nullable=False),
        sa.Column("capacity", sa.String(20), nullable=False),
    )
    op.create_index("ix_service_search_name", "service_search", ["name", "service_id"])
    op.create_table(
        "service_search_need",
        sa.Column("need", sa.String(40), nullable=False),
        sa.Column("service_id", sa.String(36), nullable=False),
        sa.PrimaryKeyConstraint("need", "service_id"),
    )
    op.create_index("ix_service_search_need_service", "service_search_need", ["service_id"])
    op.create_table(
        "service_search_point",
        sa.Column("service_id", sa.String(36), nullable=False, index=True),
        sa.Column("location_id", sa.String(36), nullable=False),
        sa.Column("latitude", sa.Float, nullable=False),
        sa.Column("longitude", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("service_id", "location_id"),
    )
    op.create_index("ix_service_search_point_lat_lon", "service_search_point", ["latitude", "longitude"])
    op.create_table(
        "service_search_hours",
        sa.Column("id", _Id, primary_key=True, autoincrement=True),
        sa.Column("service_id", sa.String(36), nullable=False, index=True),
        sa.Column("weekday", sa.SmallInteger, nullable=False),
        sa.Column("opens_minute", sa.SmallInteger, nullable=False),
        sa.Column("closes_minute", sa.SmallInteger, nullable=False),
    )
    op.create_index("ix_service_search_hours_day", "service_search_hours",
                    ["weekday", "opens_minute", "closes_minute"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE service_search ADD COLUMN document tsvector GENERATED ALWAYS AS ({PG_DOCUMENT}) STORED")
        op.execute("CREATE INDEX ix_service_search_document ON service_search USING GIN (document)")
    else:
        op.execute(SQLITE_FTS)
        for trigger in SQLITE_TRIGGERS:
            op.execute(trigger)

    op.create_table(
        "service_referral",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("agency_id", sa.String(64), nullable=False),
        sa.Column("case_id", sa.String(100), nullable=False),
        sa.Column("participant_id", sa.String(100), nullable=False),
        sa.Column("participant_name", sa.String(200), nullable=False),
        sa.Column("phone", sa.String(30)),
        sa.Column("email", sa.String(254)),
        sa.Column("preferred_language", sa.String(20), nullable=False),
        sa.Column("need", sa.String(500), nullable=False),
        sa.Column("need_category", sa.String(40)),
        sa.Column("appointment_preference", sa.String(500)),
        sa.Column("service_id", sa.String(36), nullable=False, index=True),
        sa.Column("organization_id", sa.String(64), nullable=False),
        sa.Column("consent_id", sa.String(100), nullable=False),
        sa.Column("consent_categories", sa.JSON, nullable=False),
        sa.Column("consent_purpose", sa.String(50), nullable=False),
        sa.Column("redisclosure_notice", sa.Text, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("reason_code", sa.String(40)),
        sa.Column("note", sa.Text),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("respond_by", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("escalated_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_service_referral_agency_case", "service_referral", ["agency_id", "case_id"])
    op.create_index("ix_service_referral_org", "service_referral", ["agency_id", "organization_id", "status"])
    op.create_index("ix_service_referral_due", "service_referral", ["status", "escalated_at", "respond_by"])
    op.create_table(
        "service_referral_history",
        sa.Column("id", _Id, primary_key=True, autoincrement=True),
        sa.Column("service_referral_id", sa.String(36),
                  sa.ForeignKey("service_referral.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("agency_id", sa.String(64), nullable=False),
        sa.Column("from_status", sa.String(20)),
        sa.Column("to_status", sa.String(20), nullable=False),
        sa.Column("reason_code", sa.String(40)),
        sa.Column("note", sa.Text),
        sa.Column("changed_by", sa.String(200), nullable=False),
        sa.Column("changed_by_role", sa.String(40), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("service_referral_history")
    op.drop_table("service_referral")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_service_search_document")
    else:
        for trigger in ("service_search_ai", "service_search_ad", "service_search_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS service_search_fts")
    for table in ("service_search_hours", "service_search_point", "service_search_need", "service_search"):
        op.drop_table(table)
    for table in HSDS_TABLES:
        op.drop_table(table)
    with op.batch_alter_table("organization") as batch:
        for name, _ in reversed(ORGANIZATION_COLUMNS):
            batch.drop_column(name)
