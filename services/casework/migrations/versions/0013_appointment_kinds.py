"""Appointment kinds as data: the court fields of a hearing, a cancellation's reason, old free-text kinds mapped.

Every existing kind is mapped onto the kinds table (services/casework/domain/appointments.py): a known
spelling (`check-in`, `court`, ...) becomes its kind, anything else becomes `meeting`; whenever the text
was not already a kind it is kept in `kind_label`, so nothing staff typed is lost.

Revision ID: casework_0013
Revises: casework_0012
"""
import sqlalchemy as sa
from alembic import op

revision = "casework_0013"
down_revision = "casework_0012"
branch_labels = None
depends_on = None

KINDS = ("check_in", "service_visit", "court_hearing", "drug_test", "meeting")
ALIASES = {
    "check-in": "check_in", "checkin": "check_in", "check in": "check_in",
    "service-visit": "service_visit", "service visit": "service_visit",
    "court": "court_hearing", "hearing": "court_hearing", "court-hearing": "court_hearing",
    "court hearing": "court_hearing", "drug-test": "drug_test", "drug test": "drug_test",
    "ua": "drug_test", "urinalysis": "drug_test",
}


def upgrade() -> None:
    with op.batch_alter_table("appointment") as batch:
        batch.add_column(sa.Column("court", sa.String(200), nullable=True))
        batch.add_column(sa.Column("division", sa.String(100), nullable=True))
        batch.add_column(sa.Column("docket_number", sa.String(64), nullable=True))
        batch.add_column(sa.Column("kind_label", sa.String(50), nullable=True))
        batch.add_column(sa.Column("cancel_reason", sa.String(500), nullable=True))
    appointment = sa.table("appointment", sa.column("id", sa.String), sa.column("kind", sa.String),
                           sa.column("kind_label", sa.String))
    connection = op.get_bind()
    for row_id, kind in connection.execute(sa.select(appointment.c.id, appointment.c.kind)).all():
        text = (kind or "").strip().lower()
        mapped = text if text in KINDS else ALIASES.get(text, "meeting")
        if mapped != kind:
            connection.execute(appointment.update().where(appointment.c.id == row_id)
                               .values(kind=mapped, kind_label=(kind or "")[:50] or None))
    op.create_index("ix_appointment_agency_kind", "appointment", ["agency_id", "kind"])


def downgrade() -> None:
    op.drop_index("ix_appointment_agency_kind", table_name="appointment")
    with op.batch_alter_table("appointment") as batch:
        for column in ("cancel_reason", "kind_label", "docket_number", "division", "court"):
            batch.drop_column(column)
