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

    from services.intake import handlers as h
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
                ruleset, _ = h.current_ruleset(session, agency)
            except h.NoRulesetConfigured as exc:
                raise click.ClickException(str(exc)) from None
        with Progress(TextColumn("[bold]importing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console) as progress:
            task = progress.add_task("import", total=total)
            for chunk in _chunks(read_items(file), CHUNK):
                items = [{} if isinstance(item, RowError) else item for _, item in chunk]
                with session_scope(engine) as session:
                    out, created = h.import_batch(session, agency, items, ruleset, who, today=dt.date.today(),
                                                  now=dt.datetime.now(dt.UTC))
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
