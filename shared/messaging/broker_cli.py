"""`diversion broker provision|definitions|dropped`: one broker login per service, partners read-only (ADR 0011);
the queue bounds' policies and what they dropped (ADR 0085)."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from pathlib import Path

import click

from shared.config import SERVICES, ConfigError
from shared.messaging import broker


def password_variable(user: str) -> str:
    return "DIVERSION_BROKER_PASSWORD_" + user.upper().replace("-", "_")


def local_password(user: str) -> str:
    """The compose stack's one-machine default (like its database passwords): `<user>-broker-local`."""
    return f"{user}-broker-local"


@click.group(name="broker")
def broker_group() -> None:
    """Broker logins: one per service, partners read-only on their own feed, an operator."""


@broker_group.command()
@click.option("--vhost", default="/", show_default=True)
@click.option("--partner", "partners", multiple=True, help="a partner organization id with an AMQP feed (repeat)")
@click.option("--node", default=None, help="rabbitmqctl -n NODE (default: the local node)")
@click.option("--rabbitmqctl", "executable", default="rabbitmqctl", show_default=True)
@click.option("--remove-guest", is_flag=True, help="delete the guest user (never on the embedded default)")
def provision(vhost: str, partners: tuple[str, ...], node: str | None, executable: str, remove_guest: bool) -> None:
    """Create or update every login and its permissions with rabbitmqctl (idempotent).

    Passwords come from DIVERSION_BROKER_PASSWORD_<USER> (e.g. _INTAKE, _PARTNER_<ORG>, _DIVERSION_OPERATOR);
    a login without one gets a new random password, printed once as `user password`.
    """
    users = [g.user for g in broker.grants(partners)]
    passwords: dict[str, str] = {}
    generated: list[str] = []
    for user in users:
        given = os.environ.get(password_variable(user))
        if given:
            passwords[user] = given
        else:
            passwords[user] = secrets.token_urlsafe(24)
            generated.append(user)
    ctl = broker.Rabbitmqctl(executable=executable, node=node)
    try:
        done = broker.provision(ctl, passwords, vhost=vhost, partners=partners, remove_guest=remove_guest)
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from None
    for line in done:
        click.echo(line, err=True)
    for user in generated:
        click.echo(f"{user} {passwords[user]}")


@broker_group.command()
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="write here (default: stdout)")
@click.option("--vhost", default="/", show_default=True)
@click.option("--partner", "partners", multiple=True)
def definitions(out: Path | None, vhost: str, partners: tuple[str, ...]) -> None:
    """A RabbitMQ definitions file of every login, with the compose stack's local default passwords
    (`<user>-broker-local`) unless DIVERSION_BROKER_PASSWORD_<USER> is set."""
    text = render_definitions(vhost=vhost, partners=partners)
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text)
        click.echo(f"wrote {out}", err=True)


@broker_group.command()
@click.option("--service", "services", multiple=True, type=click.Choice(SERVICES),
              help="Only this service (repeatable).")
def dropped(services: tuple[str, ...]) -> None:
    """Count (and discard) what the queue bounds dropped now, as the records upkeep does every
    DIVERSION_DROPPED_DRAIN_INTERVAL_SECONDS: one line per source queue and reason; a partner feed's drops are
    audited for its agency."""
    from shared.db import make_engine
    from shared.messaging.bounds import drain_dropped
    from shared.runner import load

    for name in services or SERVICES:
        try:
            settings = load(name)
        except ConfigError as exc:
            raise click.ClickException(f"{name}: {exc}") from exc
        engine = make_engine(settings.database_url)
        try:
            report = drain_dropped(settings.common.amqp_uri, name, engine)
        finally:
            engine.dispose()
        for (queue, reason), count in sorted(report.counts.items()):
            click.echo(f"{name}: {queue} {reason} {count}")
        click.echo(f"{name}: {report.total()} dropped message(s) counted")


def render_definitions(vhost: str = "/", partners: tuple[str, ...] = ()) -> str:
    users = [g.user for g in broker.grants(partners)]
    passwords = {user: os.environ.get(password_variable(user)) or local_password(user) for user in users}
    document = broker.definitions(passwords, vhost=vhost, partners=partners)
    # Stable salts for the local defaults, so the checked-in file only changes when the grants do.
    for user in document["users"]:
        if passwords[user["name"]] == local_password(user["name"]):
            salt = hashlib.sha256(user["name"].encode()).digest()[:4]
            user["password_hash"] = broker.password_hash(passwords[user["name"]], salt)
    return json.dumps(document, indent=2) + "\n"


if __name__ == "__main__":
    import sys

    Path(sys.argv[1]).write_text(render_definitions())
