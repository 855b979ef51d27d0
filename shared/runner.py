"""Run one service as a process: validate settings, check the broker, start nameko, stop on a signal."""

from __future__ import annotations

import gc
import importlib
import os
import signal
import sys
from typing import Any

from shared.brokers import connect, describe
from shared.config import SERVICES, ConfigError, Settings, load_settings


class BrokerUnreachable(Exception):
    pass


def service_class(name: str) -> type:
    module = importlib.import_module(f"services.{name}.service")
    return getattr(module, f"{name.title()}Service")  # type: ignore[no-any-return]


def extra_settings_class(name: str) -> Any:
    module = importlib.import_module(f"services.{name}.service")
    return getattr(module, "SETTINGS_CLASS", None)


def broker_hint(uri: str) -> str:
    return (
        f"RabbitMQ is not reachable at {describe(uri)}.\n"
        "  Start it with `rabbitmq-server -detached` (Debian package rabbitmq-server),\n"
        "  or `docker compose up -d rabbitmq`, or point DIVERSION_AMQP_URI at a running broker."
    )


def check_broker(uri: str, timeout: float = 3.0) -> None:
    """Raise BrokerUnreachable unless a node of `uri` (one URL or a cluster's, `;`-separated) answers."""
    try:
        connect(uri, timeout=timeout).release()
    except Exception as exc:
        raise BrokerUnreachable(broker_hint(uri)) from exc


def load(name: str) -> Settings:
    if name not in SERVICES:
        raise ConfigError(f"unknown service {name!r}; expected one of {', '.join(SERVICES)}")
    return load_settings(name, extra_class=extra_settings_class(name))


EXIT_FORCED = 4


def force_exit(reason: str) -> None:
    """Leave now, without finishing in-flight work. Nothing is lost: a transaction not committed is
    rolled back by the database, and a message not acknowledged is delivered again by the broker."""
    print(f"diversion: {reason}; exiting without finishing in-flight work", file=sys.stderr, flush=True)
    os._exit(EXIT_FORCED)


def serve(name: str) -> int:
    """Blocking: run service `name` until SIGINT/SIGTERM. Requires eventlet monkey patching."""
    import eventlet
    from nameko.runners import ServiceRunner

    from shared.logs import configure_logging

    try:
        settings = load(name)
    except ConfigError as exc:
        print(f"diversion: {name} cannot start: {exc}", file=sys.stderr)
        return 2
    configure_logging(name, settings.common.log_level, settings.common.log_format)
    from shared.auth import ensure_secret

    ensure_secret(settings.common)
    try:
        check_broker(settings.common.amqp_uri)
    except BrokerUnreachable as exc:
        print(f"diversion: {name} cannot start: {exc}", file=sys.stderr)
        return 3

    runner = ServiceRunner(config=settings.nameko_config())
    runner.add_service(service_class(name))

    stopping = False
    timeout = settings.common.stop_timeout_seconds

    def shutdown(signum: int, frame: Any) -> None:
        nonlocal stopping
        if stopping:
            force_exit(f"{signal.Signals(signum).name} again while stopping")
        stopping = True
        eventlet.spawn_n(runner.stop)
        eventlet.spawn_after(timeout, force_exit, f"not stopped after {timeout:g} s (is the broker down?)")

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    runner.start()
    # What the start built (modules, mappers, schemas, routes) lives as long as the process: kept out of the
    # collector, so a full collection no longer walks it for every few thousand objects a request leaves.
    gc.collect()
    gc.freeze()
    print(f"diversion: {name} serving on http://{settings.service.http_host}:{settings.service.http_port}",
          file=sys.stderr, flush=True)
    runner.wait()
    return 0
