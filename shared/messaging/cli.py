"""`diversion dlq list|show|replay|purge --service NAME`: look at and act on a service's dead letters."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from shared.cli import CONTEXT_SETTINGS
from shared.config import SERVICES, CommonSettings
from shared.messaging import dlq as ops


def _amqp_uri(given: str | None) -> str:
    uri = given or CommonSettings().amqp_uri
    click.get_current_context().meta["diversion.amqp_uri"] = uri
    return uri


class _DeadLetterGroup(click.Group):
    """An unreachable broker is exit code 3 with a hint, as for `serve` and `run`, not a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        from kombu.exceptions import OperationalError

        try:
            return super().invoke(ctx)
        except (OSError, OperationalError) as exc:
            from shared.runner import broker_hint

            uri = ctx.meta.get("diversion.amqp_uri") or CommonSettings().amqp_uri
            click.echo(f"diversion: {broker_hint(uri)}\n  ({type(exc).__name__}: {exc})", err=True)
            ctx.exit(3)


_service = click.option("--service", "service", required=True, type=click.Choice(SERVICES),
                        help="service whose dead letters to use")
_amqp = click.option("--amqp-uri", default=None, help="broker URL (default: DIVERSION_AMQP_URI)")


@click.group(name="dlq", cls=_DeadLetterGroup, context_settings=CONTEXT_SETTINGS)
def dlq() -> None:
    """Dead-letter queues: events a handler gave up on, with the error that stopped them."""


@dlq.command(name="list")
@_service
@_amqp
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 10_000))
def list_(service: str, amqp_uri: str | None, limit: int) -> None:
    """List dead letters (they stay in the queue)."""
    letters = ops.list_dead_letters(_amqp_uri(amqp_uri), service, limit)
    for letter in letters:
        click.echo(json.dumps(letter.as_dict()))
    click.echo(f"{len(letters)} dead letter(s) in {service}", err=True)


@dlq.command()
@_service
@_amqp
@click.argument("event_id")
def show(service: str, amqp_uri: str | None, event_id: str) -> None:
    """Show one dead letter with its headers and event."""
    letter = ops.show_dead_letter(_amqp_uri(amqp_uri), service, event_id)
    if letter is None:
        raise click.ClickException(f"no dead letter {event_id} in {service}")
    click.echo(json.dumps(letter.as_dict(with_body=True), indent=2, default=str))


@dlq.command()
@_service
@_amqp
@click.argument("event_ids", nargs=-1)
@click.option("--all", "replay_all", is_flag=True, help="replay every dead letter")
def replay(service: str, amqp_uri: str | None, event_ids: tuple[str, ...], replay_all: bool) -> None:
    """Put dead letters back on the queue they came from."""
    if not event_ids and not replay_all:
        raise click.UsageError("name event ids to replay, or --all")
    refused: dict[str, str] = {}
    with _erased_check(service) as refuse:
        done = ops.replay_dead_letters(_amqp_uri(amqp_uri), service, None if replay_all else set(event_ids),
                                       refuse=refuse, refused=refused)
    for event_id, reason in sorted(refused.items()):
        click.echo(f"refused {event_id}: {reason}; it stays in the dead-letter queue", err=True)
    click.echo(f"replayed {len(done)} dead letter(s)" + (f", refused {len(refused)}" if refused else ""))


@contextmanager
def _erased_check(service: str) -> Iterator[ops.Refusal]:
    """Refuse a dead letter whose referral, case or participant is a tombstone in the service's database
    (issue 16 item 4): replaying it would recreate an erased person."""
    from shared.config import ConfigError
    from shared.db import make_engine, session_scope
    from shared.messaging.signing import signing_key
    from shared.records import buried, digests, tombstone_key
    from shared.runner import load

    try:
        settings = load(service)
    except ConfigError as exc:
        raise click.ClickException(f"{service}: {exc}") from exc
    key = tombstone_key(signing_key(settings.common))
    engine = make_engine(settings.database_url)

    def refuse(letter: ops.DeadLetter) -> str | None:
        agency, ids = ops.identifiers(letter)
        if agency is None or not ids:
            return None
        with session_scope(engine) as session:
            if buried(session, digests(key, agency, **ids)):
                return (f"it is about an erased person (a tombstone matches its {', '.join(sorted(ids))} id); "
                        "erased records are never recreated")
        return None

    try:
        yield refuse
    finally:
        engine.dispose()


@dlq.command()
@_service
@_amqp
@click.option("--yes", is_flag=True, help="do not ask for confirmation")
def purge(service: str, amqp_uri: str | None, yes: bool) -> None:
    """Delete every dead letter of a service (asks first)."""
    if not yes:
        click.confirm(f"Delete every dead letter of {service}? They cannot be replayed afterwards", abort=True)
    click.echo(f"purged {ops.purge_dead_letters(_amqp_uri(amqp_uri), service)} dead letter(s)")
