"""Test infrastructure: real PostgreSQL databases per service, real RabbitMQ, services in-process.

Each test run creates its own databases (`diversion_test_<service>_<pid>`) and drops them at the end.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg2
import pytest
import requests

from shared import migrations
from shared.auth import issue_token
from shared.config import CommonSettings, Settings, load_settings

PG_ADMIN_DSN = os.environ.get("DIVERSION_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
AMQP_URI = os.environ.get("DIVERSION_TEST_AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/")
JWT_SECRET = "test-secret-not-for-production-0123456789"
# The deployment's message key (ADR 0011) for every service a test starts and every message a test signs.
MESSAGE_SIGNING_KEY = "test-message-key-not-for-production-0123456789"
os.environ.setdefault("DIVERSION_MESSAGE_SIGNING_KEY", MESSAGE_SIGNING_KEY)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _admin(sql: str) -> None:
    connection = psycopg2.connect(PG_ADMIN_DSN)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
    finally:
        connection.close()


def create_database(name: str) -> str:
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _admin(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_DSN.rsplit("/", 1)[0]
    return f"{base.replace('postgresql://', 'postgresql+psycopg2://')}/{name}"


def drop_database(name: str) -> None:
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_databases() -> Iterator[dict[str, str]]:
    """One migrated PostgreSQL database per service for the whole run."""
    urls = {}
    names = {}
    for service in ("intake", "casework", "resources", "notifications"):
        names[service] = f"diversion_test_{service}_{os.getpid()}"
        urls[service] = create_database(names[service])
        migrations.upgrade(service, urls[service])
    yield urls
    for name in names.values():
        drop_database(name)


def make_settings(service: str, database_url: str, tmp_dir: str, **overrides: str) -> Settings:
    env = {
        "DIVERSION_AMQP_URI": AMQP_URI,
        "DIVERSION_DATA_DIR": tmp_dir,
        "DIVERSION_JWT_SECRET": JWT_SECRET,
        "DIVERSION_MESSAGE_SIGNING_KEY": os.environ["DIVERSION_MESSAGE_SIGNING_KEY"],
        "DIVERSION_LOG_FORMAT": "text",
        f"DIVERSION_{service.upper()}_DATABASE_URL": database_url,
        f"DIVERSION_{service.upper()}_HTTP_PORT": str(free_port()),
        **overrides,
    }
    from shared.runner import extra_settings_class

    return load_settings(service, env=env, extra_class=extra_settings_class(service))


def make_token(agency: str = "stl-cao", roles: tuple[str, ...] = ("screener",), org: str | None = None,
               sub: str | None = None) -> str:
    settings = CommonSettings(jwt_secret=JWT_SECRET)
    return issue_token(settings, agency=agency, roles=roles, org=org, sub=sub)


class Api:
    """A small HTTP client for one running service."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.session = requests.Session()

    def request(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return self.session.request(method, self.base_url + path, headers=headers, timeout=15, **kwargs)

    def get(self, path: str, token: str | None = None, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, token, **kwargs)

    def post(self, path: str, token: str | None = None, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, token, **kwargs)


@pytest.fixture
def start_service(container_factory: Any, pg_databases: dict[str, str], tmp_path: Any) -> Callable[..., Api]:
    """Start a service in-process on its test database; returns an HTTP client for it."""
    from shared.runner import service_class

    def start(service: str, **overrides: str) -> Api:
        url = overrides.pop("database_url", pg_databases[service])
        settings = make_settings(service, url, str(tmp_path), **overrides)
        container = container_factory(service_class(service), settings.nameko_config())
        container.start()
        api = Api(f"http://127.0.0.1:{settings.service.http_port}")
        api.container = container  # type: ignore[attr-defined]
        api.settings = settings  # type: ignore[attr-defined]
        return api

    return start


@pytest.fixture
def agency() -> str:
    """A fresh tenant per test, so tests never see each other's rows."""
    return f"t-{uuid.uuid4().hex[:10]}"
