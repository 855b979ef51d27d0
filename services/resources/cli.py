"""`diversion directory ...`: import an HSDS JSON or CSV directory into the configured database, export it.

Importers are `diversion.importers` plugins; the import draws a progress bar and a table of every
record it rejected, then stores the good ones by id (running it again creates nothing twice).
"""

from __future__ import annotations

import json
from pathlib import Path

import click
from sqlalchemy.engine import Engine

from services.resources.directory import available_importers, export_hsds, import_cli
from services.resources.directory.importers import UnknownImporter, UnreadableSource
from shared.cli import CONTEXT_SETTINGS


def _engine(database_url: str | None = None) -> Engine:
    from shared.config import ConfigError
    from shared.db import make_engine
    from shared.runner import load

    if database_url is None:
        try:
            database_url = load("resources").database_url
        except ConfigError as exc:
            raise click.UsageError(str(exc)) from None
    return make_engine(database_url)


def _database_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Checked as the setting DIVERSION_RESOURCES_DATABASE_URL is (a known driver, a URL at all)."""
    from pydantic import ValidationError

    from shared.config import SERVICE_SETTINGS

    if value is None:
        return None
    try:
        return SERVICE_SETTINGS["resources"](database_url=value).database_url
    except ValidationError as exc:
        raise click.BadParameter(exc.errors()[0]["msg"].removeprefix("Value error, ")) from None


@click.group(context_settings=CONTEXT_SETTINGS)
def directory() -> None:
    """The resource directory (HSDS 3.0): import, export, reindex."""


@directory.command("import")
@click.option("--format", "format_", default="hsds_json", show_default=True,
              help=f"Importer plugin ({', '.join(available_importers()) or 'none installed'}).")
@click.option("--strict", is_flag=True, help="Store nothing if any record is rejected.")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
def import_directory(format_: str, strict: bool, path: Path) -> None:
    """Import PATH (HSDS JSON file, or a folder / zip of HSDS CSV tables) into the directory."""
    from services.resources.store import save_directory
    from shared.db import session_scope

    try:
        result = import_cli(format_, path)
    except UnknownImporter as exc:
        raise click.UsageError(f"unknown format {exc}") from None
    except UnreadableSource as exc:
        raise click.ClickException(str(exc)) from None
    if result.errors and strict:
        raise click.ClickException(f"{len(result.errors)} records rejected; nothing stored (--strict)")
    engine = _engine()
    try:
        with session_scope(engine) as session:
            stored = save_directory(session, result.directory)
    finally:
        engine.dispose()
    click.echo(f"Stored: {stored.summary()}.")
    if result.errors:
        click.echo(f"{len(result.errors)} records were rejected (listed above); the others were stored.")


@directory.command("export")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--database-url", default=None, callback=_database_url,
              help="The resources database to read (default: DIVERSION_RESOURCES_DATABASE_URL, else var/).")
def export_directory(path: Path, database_url: str | None) -> None:
    """Write the whole directory to PATH as HSDS 3.0 JSON (validated against the HSDS schemas)."""
    from services.resources.store import load_directory
    from shared.db import session_scope

    engine = _engine(database_url)
    try:
        with session_scope(engine) as session:
            stored = load_directory(session)
    finally:
        engine.dispose()
    documents = export_hsds(stored)
    path.write_text(json.dumps(documents, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    counts = ", ".join(f"{n} {table}" for table, n in stored.counts().items() if n)
    click.echo(f"Wrote {len(documents)} organizations to {path} ({counts or 'empty'}).")


@directory.command("reindex")
def reindex() -> None:
    """Rebuild the search rows of every service (after editing directory tables by hand)."""
    from services.resources.store import refresh_all_search
    from shared.db import session_scope

    engine = _engine()
    try:
        with session_scope(engine) as session:
            count = refresh_all_search(session)
    finally:
        engine.dispose()
    click.echo(f"Reindexed {count} services.")
