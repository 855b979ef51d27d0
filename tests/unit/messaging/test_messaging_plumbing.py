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


def test_worker_pool_and_batch_size_are_settings_with_a_validated_range() -> None:
    from shared.config import ConfigError, load_settings

    settings = load_settings("casework", env={"DIVERSION_MAX_WORKERS": "40", "DIVERSION_CONSUMER_BATCH_SIZE": "1"})
    assert settings.nameko_config()["max_workers"] == 40
    assert settings.common.consumer_batch_size == 1
    defaults = load_settings("casework", env={})
    assert defaults.nameko_config()["max_workers"] == 10 and defaults.common.consumer_batch_size == 100
    for variable, value in (("DIVERSION_MAX_WORKERS", "0"), ("DIVERSION_MAX_WORKERS", "1000"),
                            ("DIVERSION_CONSUMER_BATCH_SIZE", "0"), ("DIVERSION_CONSUMER_BATCH_SIZE", "many")):
        try:
            load_settings("casework", env={variable: value})
        except ConfigError as exc:
            assert variable in str(exc)
        else:
            raise AssertionError(f"{variable}={value} was accepted")


def test_inside_a_batch_a_handlers_commit_only_flushes_and_its_rollback_dooms_the_batch(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    from sqlalchemy import func, select

    from shared.messaging.consumer import BatchSession
    from shared.messaging.tables import TABLES

    engine = create_engine(f"sqlite:///{tmp_path / 'batch.db'}")
    TABLES.inbox.metadata.create_all(engine)
    row = {"consumer": "c", "source": "s", "event_type": "t", "handled_at": datetime.now(UTC)}

    def committed() -> int:
        with engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(TABLES.inbox)).scalar_one())

    session = BatchSession(engine)
    session.execute(TABLES.inbox.insert().values(event_id="by-a-handler", **row))
    session.commit()  # what a handler calling self.db.commit() does inside a batch
    assert committed() == 0 and not session.doomed
    session.commit_batch([{**row, "event_id": "inbox-row"}])  # the batch's one real commit
    assert committed() == 2
    session.close()

    doomed = BatchSession(engine)
    doomed.execute(TABLES.inbox.insert().values(event_id="thrown-away", **row))
    doomed.rollback()  # would throw away the other events' work too
    assert doomed.doomed and committed() == 2
    doomed.close()
    engine.dispose()
