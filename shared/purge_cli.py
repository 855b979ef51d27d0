"""`diversion purge`: one round of the records upkeep (shared/upkeep.py) now, with progress and counts (ADR 0082)."""

from __future__ import annotations

import datetime as dt

import click

from shared.config import SERVICES, ConfigError


def _instant(value: str | None) -> dt.datetime:
    if value is None:
        return dt.datetime.now(dt.UTC)
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"not an ISO 8601 instant: {value!r}", param_hint="--now") from exc
    if parsed.tzinfo is None:
        raise click.BadParameter("give a timezone, e.g. 2027-01-01T00:00:00+00:00", param_hint="--now")
    return parsed


@click.command("purge")
@click.option("--service", "services", multiple=True, type=click.Choice(SERVICES),
              help="Only this service (repeatable).")
@click.option("--dry-run", is_flag=True, help="Count the rows past retention, delete nothing.")
@click.option("--now", "now_text", default=None, help="The instant to purge at (ISO 8601 with timezone).")
def purge_command(services: tuple[str, ...], dry_run: bool, now_text: str | None) -> None:
    """Delete the rows past each service's retention schedule and print the counts per class."""
    from shared.db import make_engine
    from shared.retention import RetentionError, load_schedule
    from shared.runner import load
    from shared.upkeep import purge

    now = _instant(now_text)
    try:
        schedule = load_schedule()
    except RetentionError as exc:
        raise click.ClickException(str(exc)) from exc
    for name in services or SERVICES:
        try:
            settings = load(name)
        except ConfigError as exc:
            raise click.ClickException(f"{name}: {exc}") from exc
        engine = make_engine(settings.database_url)

        def progress(record_class: str, table: str, count: int, name: str = name) -> None:
            click.echo(f"{name}: {record_class} ({table}): {count} {'to delete' if dry_run else 'deleted'}")

        try:
            report = purge(engine, name, now, schedule=schedule, dry_run=dry_run, progress=progress)
        finally:
            engine.dispose()
        if report.skipped:
            click.echo(f"{name}: skipped, another instance is purging")
        else:
            click.echo(f"{name}: {report.total()} row(s) {'past retention' if dry_run else 'purged'}")
