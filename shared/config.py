"""Settings from environment variables: `DIVERSION_*` for the suite, `DIVERSION_<SERVICE>_*` per service.

Defaults are the embedded ones (a SQLite file per service under a local data folder, RabbitMQ on
localhost). A bad value stops the service at start with a message that names the variable.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from shared.brokers import check_broker_uri

SERVICES = ("intake", "casework", "resources", "notifications")
DEFAULT_PORTS = {"intake": 8001, "casework": 8002, "resources": 8003, "notifications": 8004}
SUPPORTED_DB_DRIVERS = {"sqlite", "sqlite+pysqlite", "postgresql", "postgresql+psycopg2", "postgresql+pg8000"}

# Key under which a container's nameko config carries the loaded `Settings`.
SETTINGS_KEY = "DIVERSION_SETTINGS"


class ConfigError(Exception):
    """A setting is missing or invalid; the message names the environment variable."""


class CommonSettings(BaseSettings):
    """Settings every service shares (`DIVERSION_*`)."""

    model_config = SettingsConfigDict(env_prefix="DIVERSION_", extra="ignore")

    # One AMQP URL, or a cluster's nodes separated by `;` (kombu failover, see shared/brokers.py).
    amqp_uri: str = "amqp://guest:guest@127.0.0.1:5672/"
    data_dir: Path = Path("var")
    jwt_algorithm: Literal["HS256", "RS256"] = "HS256"
    jwt_secret: str | None = Field(default=None, repr=False)
    jwt_secret_file: Path | None = None
    # Signs list cursors (shared/http/pagination.py); derived from the JWT secret (HS256) or generated into
    # the data folder when unset. Set it to one value on every replica when cursors cross replicas under RS256.
    cursor_secret: str | None = Field(default=None, repr=False, min_length=16)
    jwks_url: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    rpc_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    max_body_bytes: int = Field(default=1_048_576, ge=1024, le=64 * 1_048_576)
    delivery_limit: int = Field(default=5, ge=1, le=100)
    # nameko's worker pool per service process (HTTP calls, RPC, timers, events handled one by one);
    # also the broker prefetch of each event queue handled one by one.
    max_workers: int = Field(default=10, ge=1, le=256)
    # Events a reliable handler applies in one transaction (1: one transaction per event, as before
    # batching). See shared/messaging/consumer.py and ADR 0010.
    consumer_batch_size: int = Field(default=100, ge=1, le=1000)
    # On SIGTERM/SIGINT a service lets in-flight work finish; past this it exits at once (nameko's
    # stop waits for the broker forever while it is down). Below compose's stop_grace_period (30 s).
    stop_timeout_seconds: float = Field(default=20.0, gt=0, le=300)
    # The records upkeep (shared/upkeep.py): how often each service purges rows past retention, and how
    # often it counts the messages the broker's bounds dropped (shared/messaging/bounds.py). ADR 0082.
    purge_interval_seconds: float = Field(default=3600.0, gt=0, le=7 * 86400)
    dropped_drain_interval_seconds: float = Field(default=30.0, gt=0, le=3600)
    # Queue bounds (shared/messaging/bounds.py, ADR 0085): a queue nobody consumes on purpose never holds more
    # than MAX_LENGTH messages (the oldest go first) nor one older than MAX_AGE_SECONDS. What they drop waits
    # in `diversion.<service>.dropped` (bounded too) until the drain above counts it.
    unrouted_max_length: int = Field(default=10_000, ge=1, le=10_000_000)
    unrouted_max_age_seconds: float = Field(default=7 * 86400.0, gt=0, le=365 * 86400)
    dlq_max_length: int = Field(default=100_000, ge=1, le=10_000_000)
    dlq_max_age_seconds: float = Field(default=30 * 86400.0, gt=0, le=365 * 86400)
    partner_feed_max_length: int = Field(default=10_000, ge=1, le=10_000_000)
    partner_feed_max_age_seconds: float = Field(default=7 * 86400.0, gt=0, le=365 * 86400)
    dropped_max_length: int = Field(default=100_000, ge=1, le=10_000_000)
    dropped_max_age_seconds: float = Field(default=86400.0, gt=0, le=365 * 86400)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "text"] = "json"
    # The operator's own tenant: a token with this `agency` and the `admin` role is the deployment's
    # admin, who reads the platform audit (failed logins naming no agency). See ADR 0003.
    # HMAC key the services sign identity headers of events and RPC calls with (ADR 0011); generated into
    # the data folder when unset (embedded default). Every service of a deployment needs the same one.
    message_signing_key: str | None = Field(default=None, repr=False, min_length=32)
    platform_agency: str = Field(default="platform", pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")
    # OpenTelemetry traces go here over OTLP/HTTP when set (a collector's base URL, e.g.
    # http://otel-collector:4318); unset, tracing is off (shared/tracing.py).
    otlp_endpoint: str | None = None

    @field_validator("amqp_uri")
    @classmethod
    def _amqp_scheme(cls, value: str) -> str:
        return check_broker_uri(value)

    @field_validator("otlp_endpoint")
    @classmethod
    def _http_otlp(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL (OTLP/HTTP)")
        return value or None

    @field_validator("jwks_url")
    @classmethod
    def _https_jwks(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value

    @property
    def secret_file(self) -> Path:
        return self.jwt_secret_file or self.data_dir / "jwt-secret"


class ServiceSettings(BaseSettings):
    """Settings of one service (`DIVERSION_<SERVICE>_*`); subclasses set the prefix and port."""

    service_name: ClassVar[str] = ""
    model_config = SettingsConfigDict(extra="ignore")

    database_url: str | None = None
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=0, ge=1, le=65535)
    db_pool_size: int = Field(default=5, ge=1, le=100)

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            url = make_url(value)
        except ArgumentError as exc:
            raise ValueError(f"not a database URL ({exc})") from None
        if url.drivername not in SUPPORTED_DB_DRIVERS:
            raise ValueError(f"driver {url.drivername!r} is not one of {sorted(SUPPORTED_DB_DRIVERS)}")
        return value


def _service_settings_class(name: str) -> type[ServiceSettings]:
    prefix = f"DIVERSION_{name.upper()}_"
    return type(
        f"{name.title()}Settings",
        (ServiceSettings,),
        {
            "service_name": name,
            "model_config": SettingsConfigDict(env_prefix=prefix, extra="ignore"),
            "__annotations__": {"http_port": int},
            "http_port": Field(default=DEFAULT_PORTS[name], ge=1, le=65535),
        },
    )


SERVICE_SETTINGS: dict[str, type[ServiceSettings]] = {name: _service_settings_class(name) for name in SERVICES}


@dataclass(frozen=True)
class Settings:
    """Everything one service process needs, resolved and validated."""

    name: str
    common: CommonSettings
    service: ServiceSettings
    extra: BaseSettings | None = None

    @property
    def database_url(self) -> str:
        if self.service.database_url:
            return self.service.database_url
        return f"sqlite:///{(self.common.data_dir / f'{self.name}.db').as_posix()}"

    def nameko_config(self) -> dict[str, Any]:
        return {
            "AMQP_URI": self.common.amqp_uri,
            "WEB_SERVER_ADDRESS": f"{self.service.http_host}:{self.service.http_port}",
            "serializer": "json",
            "max_workers": self.common.max_workers,
            "HEARTBEAT": 30,
            SETTINGS_KEY: self,
        }


def _describe(error: ValidationError, prefix: str) -> str:
    lines = []
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"])
        given = item.get("input")
        shown = "" if given is None or isinstance(given, dict) else f" (got {str(given)[:80]!r})"
        lines.append(f"{prefix}{field.upper()}: {item['msg']}{shown}")
    return "; ".join(lines)


def load_settings(
    name: str,
    env: dict[str, str] | None = None,
    extra_class: type[BaseSettings] | None = None,
) -> Settings:
    """Read and validate a service's settings; raise ConfigError naming the bad variable.

    `env` replaces the process environment (tests); `extra_class` holds a service's own
    settings such as SMTP for notifications.
    """
    if name not in SERVICE_SETTINGS:
        raise ConfigError(f"unknown service {name!r}; expected one of {', '.join(SERVICES)}")

    def build(cls: type[BaseSettings], prefix: str) -> Any:
        try:
            if env is None:
                return cls()
            subset = {
                key[len(prefix) :].lower(): value for key, value in env.items() if key.startswith(prefix)
            }
            return cls.model_validate(subset)
        except ValidationError as exc:
            raise ConfigError(_describe(exc, prefix)) from None

    common = build(CommonSettings, "DIVERSION_")
    service = build(SERVICE_SETTINGS[name], f"DIVERSION_{name.upper()}_")
    extra = build(extra_class, f"DIVERSION_{name.upper()}_") if extra_class else None
    if common.jwt_algorithm == "RS256" and not common.jwks_url:
        raise ConfigError("DIVERSION_JWKS_URL: required when DIVERSION_JWT_ALGORITHM is RS256")
    return Settings(name=name, common=common, service=service, extra=extra)
