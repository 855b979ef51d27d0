"""Outbox tables, migrations helpers, confirm bookkeeping and the DLQ CLI, without a broker."""

from __future__ import annotations

from alembic.migration import MigrationContext
from alembic.operations import Operations
from click.testing import CliRunner
from sqlalchemy import MetaData, create_engine, inspect

from shared.messaging import dlq as dlq_ops
from shared.messaging.cli import dlq
from shared.messaging.outbox import _Confirms
from shared.messaging.tables import add_messaging_tables, create_messaging_tables, drop_messaging_tables


def columns(engine, table: str) -> set[str]:  # type: ignore[no-untyped-def]
    return {column["name"] for column in inspect(engine).get_columns(table)}


def test_migration_helpers_create_the_same_tables_as_the_models_and_drop_them() -> None:
    by_models = create_engine("sqlite://")
    add_messaging_tables(MetaData()).outbox.metadata.create_all(by_models)
    by_migration = create_engine("sqlite://")
    with by_migration.begin() as connection:
        create_messaging_tables(Operations(MigrationContext.configure(connection)))
    for table in ("outbox", "inbox"):
        assert columns(by_migration, table) == columns(by_models, table)
    with by_migration.begin() as connection:
        drop_messaging_tables(Operations(MigrationContext.configure(connection)))
    assert inspect(by_migration).get_table_names() == []


def test_broker_confirming_several_events_at_once_marks_each_of_them() -> None:
    confirms = _Confirms(pending={1: 101, 2: 102, 3: 103, 4: 104})
    confirms.settle(3, multiple=True, ok=True)
    confirms.settle(4, multiple=False, ok=False)
    assert confirms.acked == {101, 102, 103}
    assert confirms.failed == {104: "nacked by the broker"}
    assert confirms.pending == {}


def test_purging_dead_letters_asks_first_and_does_nothing_when_refused(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    purged: list[str] = []
    monkeypatch.setattr(dlq_ops, "purge_dead_letters", lambda uri, service: purged.append(service) or 0)
    result = CliRunner().invoke(dlq, ["purge", "--service", "casework"], input="n\n")
    assert result.exit_code == 1 and "Aborted" in result.output
    assert purged == []
    result = CliRunner().invoke(dlq, ["purge", "--service", "casework"], input="y\n")
    assert result.exit_code == 0 and purged == ["casework"]


def test_replay_needs_event_ids_or_all() -> None:
    result = CliRunner().invoke(dlq, ["replay", "--service", "casework"])
    assert result.exit_code == 2 and "--all" in result.output
