"""`diversion sealing export|reapply`: the sealing ledger kept apart from the databases, and applied again
after a restore (ADR 0084).

    diversion sealing export --out ledger.jsonl        # nightly, beside (not inside) the database backups
    diversion sealing reapply [--ledger ledger.jsonl]  # after restoring any service's database

`reapply` writes the requests to intake's outbox; the running (or next started) intake publishes them and
each service seals or erases again and confirms. It prints what it asked for.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from shared.cli import CONTEXT_SETTINGS


@contextmanager
def _intake_session() -> Iterator[tuple[Any, bytes]]:
    from shared.config import ConfigError
    from shared.db import make_engine, session_scope
    from shared.messaging.signing import signing_key
    from shared.records import tombstone_key
    from shared.runner import load

    try:
        settings = load("intake")
    except ConfigError as exc:
        raise click.ClickException(f"intake: {exc}") from exc
    engine = make_engine(settings.database_url)
    try:
        with session_scope(engine) as session:
            yield session, tombstone_key(signing_key(settings.common))
    finally:
        engine.dispose()


@click.group(name="sealing", context_settings=CONTEXT_SETTINGS)
def sealing() -> None:
    """The sealing ledger: export it, and apply it again after a database restore."""


@sealing.command()
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="file to write (JSON lines: ids, codes and times, no personal data)")
@click.option("--agency", default=None, help="only this agency")
def export(out: Path, agency: str | None) -> None:
    """Write the ledger to a file kept apart from the database backups."""
    from services.intake.usecases.reapply import export_ledger

    with _intake_session() as (session, _key):
        entries = export_ledger(session, agency)
    out.write_text("".join(json.dumps(entry, sort_keys=True) + "\n" for entry in entries), encoding="utf-8")
    click.echo(f"exported {len(entries)} ledger entr{'y' if len(entries) == 1 else 'ies'} to {out}")


@sealing.command()
@click.option("--ledger", "ledger_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="an export to bring back first (when intake's own database was restored)")
@click.option("--agency", default=None, help="only this agency")
def reapply(ledger_file: Path | None, agency: str | None) -> None:
    """Seal and erase again everything the ledger decided, in every service."""
    from services.intake.usecases.reapply import LedgerFileError, import_ledger
    from services.intake.usecases.reapply import reapply as run
    from shared.messaging.outbox import record

    entries: list[dict[str, Any]] = []
    if ledger_file is not None:
        for number, line in enumerate(ledger_file.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                entries.append(json.loads(line))
            except ValueError as exc:
                raise click.ClickException(f"{ledger_file}:{number}: not JSON ({exc})") from None
    with _intake_session() as (session, key):
        try:
            imported = import_ledger(session, entries) if entries else 0
        except LedgerFileError as exc:
            raise click.ClickException(f"{ledger_file}: {exc}") from None
        report = run(session, lambda event: record(session, event), key, dt.datetime.now(dt.UTC), agency=agency)
    if ledger_file is not None:
        click.echo(f"imported {imported} ledger entr{'y' if imported == 1 else 'ies'} from {ledger_file}")
    click.echo(f"intake: {report.intake_resealed} referral(s) sealed again, "
               f"{sum(report.intake_deleted.values())} row(s) of erased referrals deleted again")
    click.echo(f"asked every service again: {report.sealings} sealing(s), {report.erasures} erasure(s); "
               "their confirmations show in GET /v1/sealing-ledger")
