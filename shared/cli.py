"""`diversion`: the suite's command line (serve, run, migrate, seed, token, and the operations groups).

Exit codes (the README's "Command line" section): 0 done; 1 the command failed (a `ClickException`, an
import with rejected rows); 2 usage or settings error (unknown option or choice, bad setting, no JWT
secret); 3 RabbitMQ unreachable; 4 a service stopped without finishing its in-flight work.
"""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable

import click

from shared.auth import ROLES, ensure_secret
from shared.config import SERVICES, ConfigError
from shared.mailcatcher import DEFAULT_PORT as DEFAULT_MAIL_PORT
from shared.mailcatcher import MailCatcher


def _fail(message: str, code: int = 2) -> None:
    click.echo(f"diversion: {message}", err=True)
    sys.exit(code)


def _names(names: Iterable[str], everything: bool) -> list[str]:
    chosen = list(SERVICES) if everything or not names else list(names)
    unknown = [name for name in chosen if name not in SERVICES]
    if unknown:
        _fail(f"unknown service(s) {', '.join(unknown)}; expected {', '.join(SERVICES)}")
    return chosen


# Inherited by every subcommand and group mounted below: `-h` works wherever `--help` does.
CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"]}


@click.group(context_settings=CONTEXT_SETTINGS)
@click.version_option(package_name="diversion", prog_name="diversion")
def cli() -> None:
    """Run and operate the pretrial diversion suite."""


@cli.command()
@click.argument("name", type=click.Choice(SERVICES))
def serve(name: str) -> None:
    """Run one service in the foreground (Ctrl-C stops it)."""
    from shared.runner import serve as run_service

    sys.exit(run_service(name))


@cli.command()
@click.argument("names", nargs=-1, type=click.Choice(SERVICES), metavar="[SERVICE]...")
@click.option("--all", "everything", is_flag=True, help="Every service.")
@click.option("--revision", default="head", show_default=True)
@click.option("--downgrade", is_flag=True, help="Downgrade to --revision (use base for empty).")
def migrate(names: tuple[str, ...], everything: bool, revision: str, downgrade: bool) -> None:
    """Apply (or roll back) each service's migrations on its own database."""
    from shared import migrations
    from shared.runner import load

    for name in _names(names, everything):
        try:
            settings = load(name)
        except ConfigError as exc:
            _fail(f"{name}: {exc}")
        if downgrade:
            migrations.downgrade(name, settings.database_url, revision)
        else:
            migrations.upgrade(name, settings.database_url, revision)
        click.echo(f"{name}: {'downgraded' if downgrade else 'migrated'} to {revision}")


@cli.command()
@click.argument("names", nargs=-1, type=click.Choice(SERVICES), metavar="[SERVICE]...")
@click.option("--all", "everything", is_flag=True, help="Every service.")
def seed(names: tuple[str, ...], everything: bool) -> None:
    """Load the demo agency (stl-cao) and the seed's resource directory; safe to run twice."""
    from shared.db import make_engine, session_scope
    from shared.runner import load

    for name in _names(names, everything):
        settings = load(name)
        module = importlib.import_module(f"services.{name}.demo")
        engine = make_engine(settings.database_url)
        with session_scope(engine) as session:
            summary = module.load_demo(session)
        engine.dispose()
        click.echo(f"{name}: {summary}")


@cli.command()
@click.option("--agency", required=True, help="Tenant slug, e.g. stl-cao.")
@click.option("--role", "roles", multiple=True, required=True, type=click.Choice(sorted(ROLES)),
              help="A role of the token (repeatable).")
@click.option("--sub", default=None, help="Subject (user id); generated when omitted.")
@click.option("--org", default=None, help="HSDS organization id (partners).")
@click.option("--ttl", default=8 * 3600, show_default=True, type=click.IntRange(1, 30 * 24 * 3600),
              help="Lifetime in seconds.")
def token(agency: str, roles: tuple[str, ...], sub: str | None, org: str | None, ttl: int) -> None:
    """Print a bearer token that the running embedded suite accepts.

    It signs with the suite's secret: DIVERSION_JWT_SECRET, else the file DIVERSION_JWT_SECRET_FILE, else
    jwt-secret in DIVERSION_DATA_DIR (default ./var). Where none exists it refuses (exit code 2) rather than
    make a new secret the suite would not know.
    """
    from pydantic import ValidationError

    from shared.auth import issue_token
    from shared.config import CommonSettings

    try:
        settings = CommonSettings()
        click.echo(issue_token(settings, agency=agency, roles=roles, sub=sub, org=org, ttl_seconds=ttl,
                               create_secret=False))
    except ValidationError as exc:
        _fail("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()))
    except ValueError as exc:
        _fail(str(exc))


def _wait_ready(ports: dict[str, int], procs: dict[str, subprocess.Popen[bytes]], timeout: float) -> list[str]:
    import urllib.request

    pending = dict(ports)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for name, port in list(pending.items()):
            if procs[name].poll() is not None:
                raise click.ClickException(f"{name} exited with code {procs[name].returncode}; see its log above")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as response:
                    if response.status == 200:
                        pending.pop(name)
            except OSError:
                pass
        time.sleep(0.3)
    return list(pending)


@cli.command()
@click.option("--no-seed", is_flag=True, help="Skip loading the demo data.")
@click.option("--timeout", default=45.0, show_default=True, type=click.FloatRange(min=1),
              help="Seconds to wait for /readyz.")
@click.option("--mail-port", default=DEFAULT_MAIL_PORT, show_default=True, type=click.IntRange(1, 65535),
              help="Port of the local mail catcher (used unless DIVERSION_NOTIFICATIONS_SMTP_HOST is set).")
def run(no_seed: bool, timeout: float, mail_port: int) -> None:  # noqa: C901 - the runner's start-up sequence, read top to bottom (migrate, seed, start, supervise)
    """Migrate, load the demo data and run all four services (Ctrl-C stops them all).

    This is the local suite: webhooks may reach 127.0.0.1, email goes to a mail catcher under the data
    directory, and quiet hours are off so the demo's reminder arrives at once (each unless set otherwise).
    """
    from shared import migrations
    from shared.runner import BrokerUnreachable, check_broker, load

    try:
        settings = {name: load(name) for name in SERVICES}
    except ConfigError as exc:
        _fail(str(exc))
    try:
        check_broker(settings["intake"].common.amqp_uri)
    except BrokerUnreachable as exc:
        _fail(str(exc), 3)
    ensure_secret(settings["intake"].common)  # before any service starts: `diversion token` signs with it
    for name, service_settings in settings.items():
        migrations.upgrade(name, service_settings.database_url)
    click.echo("migrations: all services at head")
    if not no_seed:
        ctx = click.get_current_context()
        ctx.invoke(seed, names=(), everything=True)

    from shared.supervisor import Supervisor

    env = os.environ.copy()
    # Embedded only: let partners' webhooks (and `diversion demo`'s receiver) live on this machine.
    env.setdefault("DIVERSION_NOTIFICATIONS_WEBHOOK_ALLOW_LIST", "127.0.0.1")
    catcher = None
    if "DIVERSION_NOTIFICATIONS_SMTP_HOST" not in env:
        mailbox = settings["notifications"].common.data_dir / "mail"
        try:
            catcher = MailCatcher(mailbox, port=mail_port).start()
        except OSError as exc:
            _fail(f"{exc}; choose another with --mail-port, or set DIVERSION_NOTIFICATIONS_SMTP_HOST")
        env["DIVERSION_NOTIFICATIONS_SMTP_HOST"], env["DIVERSION_NOTIFICATIONS_SMTP_PORT"] = "127.0.0.1", str(mail_port)
        click.echo(f"mail: caught on 127.0.0.1:{mail_port}, kept in {mailbox}/ (no email leaves this machine)")
    # Nobody real is reminded here; with quiet hours the demo's reminder would wait until morning.
    env.setdefault("DIVERSION_NOTIFICATIONS_QUIET_HOURS_ENABLED", "false")
    ports = {name: s.service.http_port for name, s in settings.items()}
    # A service that dies is started again with backoff while the other three keep serving.
    supervisor = Supervisor(
        {name: [sys.executable, "-m", "shared.main", "serve", name] for name in SERVICES}, env, click.echo,
        ready_urls={name: f"http://127.0.0.1:{port}/readyz" for name, port in ports.items()},
    )
    stopping = False

    def stop_all(signum: int = signal.SIGTERM, frame: object = None) -> None:
        nonlocal stopping
        if stopping:
            return
        stopping = True
        click.echo("\nstopping services ...")
        for name in supervisor.stop_all(timeout=15):
            click.echo(f"{name} did not stop in time; killed")
        if catcher is not None:
            catcher.stop()
        click.echo("all services stopped")

    def on_sigterm(signum: int, frame: object) -> None:
        stop_all()
        sys.exit(0)

    signal.signal(signal.SIGTERM, on_sigterm)
    # Ctrl-C (SIGINT) stops the suite however it was started: a shell script's background job inherits
    # SIGINT ignored, and Python then never raises KeyboardInterrupt; `serve` likewise handles SIGINT itself.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        supervisor.start_all()
        procs = {name: child.popen for name, child in supervisor.children.items() if child.popen is not None}
        missing = _wait_ready(ports, procs, timeout)
        if missing:
            raise click.ClickException(f"not ready after {timeout:.0f}s: {', '.join(missing)}")
        click.echo("\nAll four services are ready:")
        for name, port in ports.items():
            click.echo(f"  {name:<14} http://127.0.0.1:{port}  (OpenAPI: /openapi.json; pid {supervisor.pid(name)})")
        click.echo("  AsyncAPI of every event: /asyncapi.json on any of them")
        click.echo("\nGet a token:  .venv/bin/diversion token --agency stl-cao --role screener")
        click.echo("Press Ctrl-C to stop.")
        while True:
            supervisor.check()
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        stop_all()


def _mount_optional_groups() -> None:
    """Groups that live with the code they operate (messaging, intake, resources, demo)."""
    for module_name, attr in (
        ("shared.messaging.cli", "dlq"),
        ("shared.messaging.broker_cli", "broker_group"),
        ("services.intake.cli", "referrals"),
        ("services.intake.cli", "rulesets"),
        ("services.intake.sealing_cli", "sealing"),
        ("shared.reports_cli", "reports"),
        ("shared.purge_cli", "purge_command"),
        ("services.resources.cli", "directory"),
        ("shared.demo", "demo"),
    ):
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                continue
            raise
        cli.add_command(getattr(module, attr))


def main() -> None:
    """Called by `shared.main`, which patches eventlet for the commands that run nameko."""
    _mount_optional_groups()
    cli()
