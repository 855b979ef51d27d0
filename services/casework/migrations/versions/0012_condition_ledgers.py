"""Conditions that count: payment and hours ledgers, condition history and waivers.

The running total `case_condition.completed_amount` is replaced by the ledgers: progress recorded before
this revision becomes one ledger entry per condition (method `other`, recorded by this migration), so every
balance is the same before and after.

Revision ID: casework_0012
Revises: casework_0011
"""
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import sqlalchemy as sa
from alembic import op

revision = "casework_0012"
down_revision = "casework_0011"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)
BY = "migration casework_0012 (progress recorded before the ledger)"


def upgrade() -> None:
    with op.batch_alter_table("case_condition") as batch:
        batch.add_column(sa.Column("waived_on", sa.Date))
        batch.add_column(sa.Column("waived_by", sa.String(200)))
        batch.add_column(sa.Column("waiver_reason", sa.Text))
    op.create_table(
        "condition_payment",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("agency_id", sa.String(64), nullable=False),
        sa.Column("case_id", sa.String(64), sa.ForeignKey("diversion_case.id"), nullable=False, index=True),
        sa.Column("condition_id", sa.String(64), sa.ForeignKey("case_condition.id"), nullable=False),
        sa.Column("paid_on", sa.Date, nullable=False),
        sa.Column("amount_cents", sa.BigInteger, nullable=False),
        sa.Column("method", sa.String(32), nullable=False),
        sa.Column("receipt_number", sa.String(100)),
        sa.Column("recorded_by", sa.String(200), nullable=False),
        sa.Column("recorded_at", TZ, nullable=False),
    )
    op.create_index("ix_condition_payment_condition", "condition_payment", ["condition_id", "paid_on", "id"])
    op.create_table(
        "condition_hours",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("agency_id", sa.String(64), nullable=False),
        sa.Column("case_id", sa.String(64), sa.ForeignKey("diversion_case.id"), nullable=False, index=True),
        sa.Column("condition_id", sa.String(64), sa.ForeignKey("case_condition.id"), nullable=False),
        sa.Column("served_on", sa.Date, nullable=False),
        sa.Column("hours", sa.Numeric(7, 2), nullable=False),
        sa.Column("site", sa.String(300), nullable=False),
        sa.Column("verified_by", sa.String(200)),
        sa.Column("recorded_by", sa.String(200), nullable=False),
        sa.Column("recorded_at", TZ, nullable=False),
    )
    op.create_index("ix_condition_hours_condition", "condition_hours", ["condition_id", "served_on", "id"])
    op.create_table(
        "condition_revision",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("agency_id", sa.String(64), nullable=False),
        sa.Column("case_id", sa.String(64), sa.ForeignKey("diversion_case.id"), nullable=False, index=True),
        sa.Column("condition_id", sa.String(64), sa.ForeignKey("case_condition.id"), nullable=False, index=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("changes", sa.JSON, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("changed_by", sa.String(200), nullable=False),
        sa.Column("changed_at", TZ, nullable=False),
    )
    _carry_progress_into_ledgers()
    with op.batch_alter_table("case_condition") as batch:
        batch.drop_column("completed_amount")


def _carry_progress_into_ledgers() -> None:
    bind = op.get_bind()
    now = datetime.now(UTC)
    rows = bind.execute(sa.text(
        "SELECT id, agency_id, case_id, unit, completed_amount, met_on, created_at FROM case_condition "
        "WHERE completed_amount > 0 AND unit IS NOT NULL")).mappings().all()
    for row in rows:
        created = row["created_at"]
        on = row["met_on"] or (created.date() if isinstance(created, datetime) else
                               datetime.fromisoformat(str(created)).date())
        common = {"id": str(uuid.uuid4()), "agency_id": row["agency_id"], "case_id": row["case_id"],
                  "condition_id": row["id"], "on": on, "by": BY, "at": now}
        if row["unit"] == "dollars":
            bind.execute(sa.text(
                "INSERT INTO condition_payment (id, agency_id, case_id, condition_id, paid_on, amount_cents, method,"
                " receipt_number, recorded_by, recorded_at) VALUES (:id, :agency_id, :case_id, :condition_id, :on,"
                " :cents, 'other', NULL, :by, :at)"), {**common, "cents": int(Decimal(str(row["completed_amount"])) * 100)})
        else:
            bind.execute(sa.text(
                "INSERT INTO condition_hours (id, agency_id, case_id, condition_id, served_on, hours, site,"
                " verified_by, recorded_by, recorded_at) VALUES (:id, :agency_id, :case_id, :condition_id, :on,"
                " :hours, 'not recorded', NULL, :by, :at)"), {**common, "hours": row["completed_amount"]})


def downgrade() -> None:
    with op.batch_alter_table("case_condition") as batch:
        batch.add_column(sa.Column("completed_amount", sa.Numeric(12, 2), nullable=False, server_default="0"))
    op.execute("UPDATE case_condition SET completed_amount = COALESCE((SELECT SUM(amount_cents) / 100.0 FROM "
               "condition_payment p WHERE p.condition_id = case_condition.id), 0) + COALESCE((SELECT SUM(hours) "
               "FROM condition_hours h WHERE h.condition_id = case_condition.id), 0)")
    op.drop_table("condition_revision")
    op.drop_index("ix_condition_hours_condition", table_name="condition_hours")
    op.drop_table("condition_hours")
    op.drop_index("ix_condition_payment_condition", table_name="condition_payment")
    op.drop_table("condition_payment")
    with op.batch_alter_table("case_condition") as batch:
        for column in ("waiver_reason", "waived_by", "waived_on"):
            batch.drop_column(column)
