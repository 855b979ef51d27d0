"""Alembic per service: each service has its own scripts and its own version table.

`services/<name>/migrations/env.py` calls `run_env()`; the CLI and `/readyz` use the functions here.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData
from sqlalchemy.engine import Engine

from shared.db import make_engine


def version_table(service: str) -> str:
    return f"alembic_version_{service}"


def alembic_config(service: str, url: str) -> Config:
    package = importlib.import_module(f"services.{service}")
    assert package.__file__ is not None
    config = Config()
    config.set_main_option("script_location", str(Path(package.__file__).parent / "migrations"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["service"] = service
    return config


def upgrade(service: str, url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(service, url), revision)


def downgrade(service: str, url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(service, url), revision)


def head_revision(service: str) -> str | None:
    return ScriptDirectory.from_config(alembic_config(service, "sqlite://")).get_current_head()


def current_revision(engine: Engine, service: str) -> str | None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"version_table": version_table(service)})
        return context.get_current_revision()


def at_head(engine: Engine, service: str, head: str | None) -> bool:
    try:
        return current_revision(engine, service) == head
    except Exception:  # noqa: BLE001 - an unreachable database is "not at head" for readiness
        return False


def run_env(service: str, target_metadata: MetaData) -> None:
    """Body of every service's `migrations/env.py` (online mode only: we always have a database)."""
    from alembic import context

    config = context.config
    url = config.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url is set by shared.migrations.alembic_config"
    connectable = config.attributes.get("connection") or make_engine(url)
    if isinstance(connectable, Engine):
        with connectable.connect() as connection:
            _configure_and_run(context, connection, service, target_metadata)
        connectable.dispose()
    else:
        _configure_and_run(context, connectable, service, target_metadata)


def _configure_and_run(context, connection, service: str, target_metadata: MetaData) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table=version_table(service),
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    if connection.in_transaction():
        connection.commit()
