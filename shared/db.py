"""SQLAlchemy 2 for nameko: engines built from settings, and a session per worker.

nameko-sqlalchemy does not support SQLAlchemy 2, so this is our own dependency provider. A worker
gets a fresh `Session`; whatever it did not `commit()` is rolled back when the worker ends.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from weakref import WeakKeyDictionary

from nameko.containers import WorkerContext
from nameko.extensions import DependencyProvider
from sqlalchemy import create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from shared.config import SETTINGS_KEY, Settings

log = logging.getLogger(__name__)

_green_patched = False


def _cooperate_with_eventlet() -> None:
    """psycopg2 blocks the eventlet hub unless psycogreen installs its wait callback."""
    global _green_patched
    if _green_patched:
        return
    import eventlet.patcher

    if eventlet.patcher.is_monkey_patched("socket"):
        from psycogreen.eventlet import patch_psycopg

        patch_psycopg()
        _green_patched = True


def make_engine(url: str, pool_size: int = 5, echo: bool = False) -> Engine:
    """An engine for SQLite (the embedded default) or PostgreSQL (production)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            from pathlib import Path

            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, echo=echo, connect_args={"check_same_thread": False, "timeout": 15}, pool_pre_ping=True
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=15000")
            cursor.close()

        return engine

    connect_args: dict[str, Any] = {}
    if parsed.drivername in ("postgresql", "postgresql+psycopg2"):
        _cooperate_with_eventlet()
        connect_args = {"connect_timeout": 3, "application_name": "diversion"}
    elif parsed.drivername == "postgresql+pg8000":
        connect_args = {"timeout": 10}
    engine = create_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_use_lifo=True,  # the connection used last is used next: the others idle, and are pinged when taken
        pool_recycle=1800,
        connect_args=connect_args,
    )
    _ping_when_idle(engine)
    return engine


PING_AFTER_IDLE_SECONDS = 1.0


def _ping_when_idle(engine: Engine) -> None:
    """`pool_pre_ping`, but only for a connection that sat in the pool: a round trip per checkout was a few
    per cent of every service's CPU under load, spent on connections used milliseconds before.

    A connection idle over `PING_AFTER_IDLE_SECONDS` is pinged when taken; a failed ping raises
    `DisconnectionError`, on which the pool drops it and takes another (SQLAlchemy's documented pessimistic
    recipe). A connection lost while it was busy fails its next statement, which SQLAlchemy marks
    `connection_invalidated` (the whole pool is recycled then): the consumers hold their events until the
    database answers, an HTTP request in flight gets its error, exactly as with a pre-ping that found the
    database still down.
    """

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop("idle_since", None)
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_SECONDS:
            return  # new, or used a moment ago
        try:
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute("SELECT 1")
            finally:
                cursor.close()
        except Exception as exc:  # any failure of the ping means: take another connection
            raise DisconnectionError(f"ping failed: {type(exc).__name__}") from exc


def insert_for(bind: Any) -> Any:
    """The dialect's INSERT, which has `on_conflict_do_nothing`: PostgreSQL's, or SQLite's for the embedded
    default. `bind` is an engine, a connection or a session."""
    if isinstance(bind, Session):
        bind = bind.get_bind()
    return postgresql.insert if bind.dialect.name == "postgresql" else sqlite.insert


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session for scripts and CLIs: commits on success, rolls back on error."""
    session = Session(engine, expire_on_commit=False)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def database_reachable(engine: Engine) -> tuple[bool, str]:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True, "ok"
    except Exception as exc:  # noqa: BLE001 - readiness reports any failure as "not ready"
        return False, type(exc).__name__


class Database(DependencyProvider):  # type: ignore[misc]  # nameko's DependencyProvider is untyped
    """Injects a SQLAlchemy `Session` per worker; uncommitted work is rolled back at teardown."""

    engine: Engine

    def setup(self) -> None:
        settings: Settings = self.container.config[SETTINGS_KEY]
        self.settings = settings
        self.engine = make_engine(settings.database_url, pool_size=settings.service.db_pool_size)
        self.sessionmaker = sessionmaker(bind=self.engine, expire_on_commit=False)
        self.sessions: WeakKeyDictionary[WorkerContext, Session] = WeakKeyDictionary()

    def stop(self) -> None:
        self.engine.dispose()

    def kill(self) -> None:
        self.engine.dispose()

    def get_dependency(self, worker_ctx: WorkerContext) -> Session:
        session = self.sessionmaker()
        self.sessions[worker_ctx] = session
        return session

    def worker_teardown(self, worker_ctx: WorkerContext) -> None:
        session = self.sessions.pop(worker_ctx, None)
        if session is not None:
            session.close()  # rolls back anything not committed
