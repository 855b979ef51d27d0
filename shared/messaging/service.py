"""nameko glue shared by the messaging extensions: the engine and settings a container already has."""

from __future__ import annotations

from typing import Any

from nameko.constants import AMQP_URI_CONFIG_KEY
from sqlalchemy.engine import Engine

from shared.config import SETTINGS_KEY, Settings
from shared.db import Database, make_engine

DEFAULT_DELIVERY_LIMIT = 5
DEFAULT_RPC_TIMEOUT = 10.0
DEFAULT_CONSUMER_BATCH_SIZE = 100


def find_database(container: Any) -> Database | None:
    """The container's `shared.db.Database` dependency, if the service declares one."""
    for provider in container.dependencies:
        if isinstance(provider, Database):
            return provider
    return None


def settings_of(container: Any) -> Settings | None:
    settings = container.config.get(SETTINGS_KEY)
    return settings if isinstance(settings, Settings) else None


def amqp_uri_of(container: Any) -> str:
    return str(container.config[AMQP_URI_CONFIG_KEY])


def delivery_limit_of(container: Any) -> int:
    settings = settings_of(container)
    return settings.common.delivery_limit if settings else DEFAULT_DELIVERY_LIMIT


def consumer_batch_size_of(container: Any) -> int:
    settings = settings_of(container)
    return settings.common.consumer_batch_size if settings else DEFAULT_CONSUMER_BATCH_SIZE


def rpc_timeout_of(container: Any) -> float:
    settings = settings_of(container)
    return settings.common.rpc_timeout_seconds if settings else DEFAULT_RPC_TIMEOUT


class EngineSource:
    """Resolves the service's engine at start: the Database dependency's, else one built from settings."""

    def __init__(self, container: Any) -> None:
        self.container = container
        self._own: Engine | None = None

    def engine(self) -> Engine:
        database = find_database(self.container)
        if database is not None and getattr(database, "engine", None) is not None:
            return database.engine
        if self._own is None:
            settings = settings_of(self.container)
            if settings is None:
                raise RuntimeError(
                    f"{self.container.service_name}: messaging needs a Database dependency or "
                    f"config[{SETTINGS_KEY!r}] with a database_url"
                )
            self._own = make_engine(settings.database_url, pool_size=settings.service.db_pool_size)
        return self._own

    def dispose(self) -> None:
        if self._own is not None:
            self._own.dispose()
            self._own = None
