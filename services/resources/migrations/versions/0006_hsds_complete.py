"""The rest of HSDS 3.0, so an import keeps everything the official examples carry: programs, funding,
accessibility, cost options, required documents, organization identifiers and metadata.

Revision ID: resources_0006
Revises: resources_0005
"""
import sqlalchemy as sa
from alembic import op

revision = "resources_0006"
down_revision = "resources_0005"
branch_labels = None
depends_on = None


def _id() -> sa.Column:
    return sa.Column("id", sa.String(36), primary_key=True)


def _fk(name: str) -> sa.Column:
    return sa.Column(name, sa.String(36), index=True)


TABLES = {
    "program": lambda: (
        _id(), _fk("organization_id"), sa.Column("name", sa.Text, nullable=False), sa.Column("alternate_name", sa.Text),
        sa.Column("description", sa.Text, nullable=False),
    ),
    "funding": lambda: (_id(), _fk("organization_id"), _fk("service_id"), sa.Column("source", sa.Text)),
    "accessibility": lambda: (
        _id(), _fk("location_id"), sa.Column("description", sa.Text), sa.Column("details", sa.Text),
        sa.Column("url", sa.Text),
    ),
    "cost_option": lambda: (
        _id(), _fk("service_id"), sa.Column("valid_from", sa.Text), sa.Column("valid_to", sa.Text),
        sa.Column("option", sa.Text), sa.Column("currency", sa.Text), sa.Column("amount", sa.Float),
        sa.Column("amount_description", sa.Text),
    ),
    "required_document": lambda: (
        _id(), _fk("service_id"), sa.Column("document", sa.Text), sa.Column("uri", sa.Text),
    ),
    "organization_identifier": lambda: (
        _id(), _fk("organization_id"), sa.Column("identifier_scheme", sa.Text),
        sa.Column("identifier_type", sa.Text, nullable=False), sa.Column("identifier", sa.Text, nullable=False),
    ),
    "metadata": lambda: (
        _id(), sa.Column("resource_id", sa.String(36), index=True), sa.Column("resource_type", sa.Text),
        *(sa.Column(name, sa.Text, nullable=False) for name in (
            "last_action_date", "last_action_type", "field_name", "previous_value", "replacement_value",
            "updated_by")),
    ),
}


def upgrade() -> None:
    for name, columns in TABLES.items():
        op.create_table(name, *columns())


def downgrade() -> None:
    for name in reversed(list(TABLES)):
        op.drop_table(name)
