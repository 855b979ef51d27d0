"""`diversion referrals import FILE --agency SLUG`: bulk-load referrals from CSV or NDJSON into intake's database.

Writes through the same code as POST /v1/referrals:batch (validation, screening, natural keys), so a re-run
creates nothing twice. CSV headers are the JSON field paths, dotted, with list positions as numbers:

    source,case_number,external_id,defendant.first_name,defendant.last_name,defendant.date_of_birth,
    defendant.sex,defendant.race,defendant.ethnicity,defendant.phone,defendant.email,
    defendant.address.line1,defendant.address.city,defendant.address.state,defendant.address.postal_code,
    charges.0.statute,charges.0.description,charges.0.offense_class,charges.0.offense_date,charges.0.violent,
    charges.1.statute,...,history.convictions.0.date,history.convictions.0.offense_class,
    history.prior_diversions.0.date,history.prior_diversions.0.outcome,history.pending_cases

Empty cells are left out (an all-empty `charges.1.*` group is no second charge).
"""

from __future__ import annotations

import csv
import datetime as dt
import getpass
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from shared.cli import CONTEXT_SETTINGS

CHUNK = 500


class RowError(Exception):
    """A line of the input file that is not a JSON object (NDJSON) or has a bad header (CSV)."""


def unflatten(row: dict[str, str]) -> dict[str, Any]:
    """`{"charges.0.statute": "570.030"}` -> `{"charges": [{"statute": "570.030"}]}`; empty cells dropped."""
    root: dict[str, Any] = {}
    for header, value in row.items():
        if header is None or value is None or not str(value).strip():
            continue
        parts = header.strip().split(".")
        node: Any = root
        for part, following in zip(parts, parts[1:], strict=False):
            container: Any = [] if following.isdigit() else {}
            if isinstance(node, list):
                index = int(part)
                while len(node) <= index:
                    node.append(None)
                if node[index] is None:
                    node[index] = container
                node = node[index]
            else:
                node = node.setdefault(part, container)
        last = parts[-1]
        if isinstance(node, list):
            index = int(last)
            while len(node) <= index:
                node.append(None)
            node[index] = value.strip()
        else:
            node[last] = value.strip()
    return _compact(root)


def _compact(value: Any) -> Any:
    """Drop the holes a sparse CSV leaves in lists (charges.0 and charges.2 filled, charges.1 empty)."""
    if isinstance(value, dict):
        return {k: _compact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_compact(v) for v in value if v is not None]
    return value


def read_items(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, item) for each referral in the file: CSV by dotted headers, or one JSON object per line."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            for row in reader:
                yield reader.line_num, unflatten(row)
    elif suffix in (".ndjson", ".jsonl"):
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    yield number, json.loads(line)
                except ValueError as exc:
                    yield number, RowError(f"not JSON: {exc}")
    else:
        raise click.BadParameter(f"{path.name}: use a .csv, .ndjson or .jsonl file", param_hint="FILE")


def _chunks(items: Iterator[tuple[int, Any]], size: int) -> Iterator[list[tuple[int, Any]]]:
    chunk: list[tuple[int, Any]] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@click.group(context_settings=CONTEXT_SETTINGS)
def referrals() -> None:
    """Referral intake: bulk import."""


@referrals.command("import", context_settings=CONTEXT_SETTINGS)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--agency", required=True, help="Tenant slug the referrals belong to, e.g. stl-cao.")
@click.option("--actor", default=None, help="Who imports (audit trail); default cli:<os user>.")
def import_referrals(file: Path, agency: str, actor: str | None) -> None:
    """Validate, screen and store the referrals in FILE (.csv with dotted headers, or .ndjson)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from services.intake.usecases import rulesets, submissions
    from shared.audit import write_audit
    from shared.auth import Identity
    from shared.config import ConfigError
    from shared.db import make_engine, session_scope
    from shared.runner import load

    console = Console(stderr=True)
    try:
        settings = load("intake")
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    who = actor or f"cli:{getpass.getuser()}"
    try:
        identity = Identity(sub=who, agency=agency, roles=frozenset({"admin"}))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--agency") from None
    total = _count(file)
    engine = make_engine(settings.database_url)
    counts = {"created": 0, "existing": 0, "invalid": 0}
    problems: list[tuple[int, str, str]] = []
    try:
        with session_scope(engine) as session:
            try:
                ruleset, _ = rulesets.current_ruleset(session, agency)
            except rulesets.NoRulesetConfigured as exc:
                raise click.ClickException(str(exc)) from None
        with Progress(TextColumn("[bold]importing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console) as progress:
            task = progress.add_task("import", total=total)
            for chunk in _chunks(read_items(file), CHUNK):
                items = [{} if isinstance(item, RowError) else item for _, item in chunk]
                prepared = submissions.prepare_batch(items, ruleset, today=dt.date.today())  # outside the transaction
                with session_scope(engine) as session:
                    out, created = submissions.store_batch(session, agency, prepared, who, now=dt.datetime.now(dt.UTC))
                    if created:
                        write_audit(session, service="intake", action="referral.batch_created", outcome="success",
                                    identity=identity, resource_type="referral", resource_id=None,
                                    source_ip=None, request_id=None,
                                    detail={"import": file.name, "ids": [made.id for made in created],
                                            "ruleset_version": ruleset.version})
                for result, (number, item) in zip(out.results, chunk, strict=True):
                    if isinstance(item, RowError):
                        counts["invalid"] += 1
                        problems.append((number, "(line)", str(item)))
                        continue
                    counts[result.status] += 1
                    for error in result.errors or []:
                        problems.append((number, error.field, error.message))
                progress.advance(task, len(chunk))
    finally:
        engine.dispose()
    for number, field, message in problems:
        console.print(f"line {number}: {field}: {message}", markup=False, highlight=False)
    click.echo(f"{file.name}: {counts['created']} created, {counts['existing']} already there, "
               f"{counts['invalid']} invalid ({agency}, ruleset {ruleset.version})")
    if counts["invalid"]:
        sys.exit(1)


def _count(path: Path) -> int:
    with path.open(encoding="utf-8-sig") as handle:
        lines = sum(1 for line in handle if line.strip())
    return max(lines - 1, 0) if path.suffix.lower() == ".csv" else lines


def _intake_engine(database_url: str | None) -> Any:
    from shared.config import ConfigError
    from shared.db import make_engine
    from shared.runner import load

    if database_url:
        return make_engine(database_url)
    try:
        settings = load("intake")
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    return make_engine(settings.database_url)


_database_url = click.option("--database-url", default=None,
                             help="intake's database (default: from settings, DIVERSION_INTAKE_DATABASE_URL)")


@click.group(context_settings=CONTEXT_SETTINGS)
def rulesets() -> None:
    """Ruleset packs: what-if replay of a pack version over past referrals."""


@rulesets.command("replay", context_settings=CONTEXT_SETTINGS)
@click.argument("version")
@click.option("--agency", required=True, help="Tenant slug, e.g. stl-cao.")
@click.option("--from", "date_from", required=True, type=click.DateTime(formats=["%Y-%m-%d"]),
              help="first day referrals were received (UTC)")
@click.option("--to", "date_to", required=True, type=click.DateTime(formats=["%Y-%m-%d"]),
              help="last day referrals were received (UTC)")
@click.option("--format", "output", type=click.Choice(["table", "json"]), default="table", show_default=True)
@_database_url
def replay_ruleset(version: str, agency: str, date_from: dt.datetime, date_to: dt.datetime, output: str,
                   database_url: str | None) -> None:
    """Screen the referrals received FROM..TO under pack VERSION and report what would change (reads only)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table
    from sqlalchemy.orm import Session

    from services.intake.usecases import replay as what_if

    if date_from > date_to:
        raise click.BadParameter("--from is after --to", param_hint="--from")
    console = Console(stderr=True)
    engine = _intake_engine(database_url)
    try:
        with Session(engine) as session, Progress(
            TextColumn("[bold]replaying"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
        ) as progress:
            task = progress.add_task("replay", total=None)
            try:
                report = what_if.replay(session, agency, version, date_from.date(), date_to.date(),
                                        progress=lambda done, total: progress.update(task, completed=done,
                                                                                     total=total))
            except what_if.RulesetVersionNotFound as exc:
                raise click.ClickException(str(exc)) from None
            finally:
                session.rollback()
    finally:
        engine.dispose()
    if output == "json":
        click.echo(report.model_dump_json(indent=2))
        return
    table = Table(title=f"pack {version} over {report.referrals} referrals: {report.changed_referrals} change")
    for column in ("program", "referrals", "changed", "directions"):
        table.add_column(column)
    for program in report.programs:
        directions = ", ".join(f"{k}: {v}" for k, v in program.directions.items()) or "-"
        table.add_row(program.program, str(program.referrals), str(program.changed), directions)
    Console().print(table)


@referrals.command("export", context_settings=CONTEXT_SETTINGS)
@click.option("--agency", required=True, help="Tenant slug, e.g. stl-cao.")
@click.option("--format", "output_format", type=click.Choice(["ndjson", "csv"]), default="ndjson", show_default=True)
@click.option("--deidentified", is_flag=True, help="the research variant: no names, age bands, keyed hashes")
@click.option("--from", "date_from", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="received on or after this day (UTC)")
@click.option("--to", "date_to", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="received on or before this day (UTC)")
@click.option("--program", default=None, help="accepted into, or screened eligible for, this program")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="file to write (default: standard output)")
@_database_url
def export_referrals(agency: str, output_format: str, deidentified: bool, date_from: dt.datetime | None,
                     date_to: dt.datetime | None, program: str | None, output: Path | None,
                     database_url: str | None) -> None:
    """Export referrals, screenings, decisions and outcomes, streamed (memory stays flat), with progress."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from services.intake.usecases import export
    from shared.audit import write_audit_now
    from shared.auth import Identity, load_or_create_secret
    from shared.config import CommonSettings

    if date_from and date_to and date_from > date_to:
        raise click.BadParameter("--from is after --to", param_hint="--from")
    variant: export.Variant = "deidentified" if deidentified else "identified"
    common = CommonSettings()
    try:
        key = export.export_key(common.jwt_secret or load_or_create_secret(common.secret_file),
                                os.environ.get("DIVERSION_INTAKE_EXPORT_KEY"))
        identity = Identity(sub=f"cli:{getpass.getuser()}", agency=agency, roles=frozenset({"admin"}))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    engine = _intake_engine(database_url)
    first, last = (date_from.date() if date_from else None), (date_to.date() if date_to else None)
    console = Console(stderr=True)
    target = output.open("wb") if output else sys.stdout.buffer
    written = 0
    try:
        with engine.connect() as connection:
            total = export.count(connection, agency, first, last, program)
            rows = export.records(connection, agency, variant=variant, key=key, date_from=first, date_to=last,
                                  program=program)
            with Progress(TextColumn("[bold]exporting"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                          console=console) as progress:
                task = progress.add_task("export", total=total)

                def counted() -> Iterator[dict[str, Any]]:
                    nonlocal written
                    for row in rows:
                        written += 1
                        if written % 500 == 0:
                            progress.update(task, completed=written)
                        yield row

                render = export.as_csv if output_format == "csv" else export.as_ndjson
                for piece in render(counted(), variant):
                    target.write(piece)
                progress.update(task, completed=written)
        write_audit_now(engine, service="intake", action="referral.exported", outcome="success", identity=identity,
                        resource_type="referral", resource_id=None, source_ip=None, request_id=None,
                        detail={"variant": variant, "format": output_format, "rows": written, "program": program,
                                "from": first.isoformat() if first else None,
                                "to": last.isoformat() if last else None, "via": "cli"})
    finally:
        if output:
            target.close()
        engine.dispose()
    console.print(f"{written} referrals exported ({variant}, {output_format})", highlight=False)
