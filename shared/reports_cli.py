"""`diversion reports`: the screening, equity, caseload and outcome reports from the command line.

The command asks the running services' own report endpoints (so the figures, the small-cell suppression and
the audit trail are the API's), with a short-lived auditor token signed by the suite's secret, and prints them
as a table, CSV or JSON. Exit codes: 0 done, 1 the service refused or failed, 2 bad usage.
"""

from __future__ import annotations

import csv
import getpass
import io
import json
from typing import Any

import click

REPORTS = {
    # name: (service, path, what to print)
    "screening": ("intake", "/v1/reports/screening", "program totals: referred, screened eligible, accepted"),
    "equity": ("intake", "/v1/reports/screening", "by race, ethnicity, sex and age band, small cells suppressed"),
    "caseload": ("casework", "/v1/reports/caseload", "open cases per case manager against their cap"),
    "outcomes": ("casework", "/v1/reports/outcomes", "outcomes by program and group, small cells suppressed"),
}


def _base_url(service: str, override: str | None) -> str:
    if override:
        return override.rstrip("/")
    from shared.config import ConfigError, load_settings

    try:
        settings = load_settings(service)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    host = settings.service.http_host
    return f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{settings.service.http_port}"


def _token(agency: str) -> str:
    from shared.auth import issue_token
    from shared.config import CommonSettings

    common = CommonSettings()
    if not common.jwt_secret and not common.secret_file.exists():
        raise click.ClickException(
            f"no suite secret in {common.secret_file} and DIVERSION_JWT_SECRET is not set: run this where the suite "
            "runs (the same DIVERSION_DATA_DIR), or set DIVERSION_JWT_SECRET")
    try:
        return issue_token(common, agency=agency, roles=("auditor",), sub=f"cli:{getpass.getuser()}",
                           ttl_seconds=300)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


def rows_of(name: str, body: Any) -> list[dict[str, Any]]:
    """The report's rows, flat: one dict per table row."""
    if name in ("screening", "equity"):
        cells = body.get("cells", [])
        wanted = [c for c in cells if (c["dimension"] == "all") == (name == "screening")]
        return [{k: v for k, v in c.items() if name == "equity" or k not in ("dimension", "group")} for c in wanted]
    if name == "outcomes":
        return [cell for cells in body.values() for cell in cells]
    return list(body)


def render(rows: list[dict[str, Any]], output: str) -> str:
    if output == "json":
        return json.dumps(rows, indent=2, default=str)
    columns = list(rows[0]) if rows else []
    if output == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if row.get(c) is None else row.get(c) for c in columns])
        return buffer.getvalue()
    from rich.console import Console
    from rich.table import Table

    table = Table()
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("–" if row.get(c) is None else str(row.get(c)) for c in columns))
    console = Console(record=True, width=200)
    with console.capture() as captured:
        console.print(table)
    return captured.get()


@click.command("reports", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("name", type=click.Choice(sorted(REPORTS)))
@click.option("--agency", required=True, help="Tenant slug, e.g. stl-cao.")
@click.option("--from", "date_from", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="screening and equity: referrals received on or after this day")
@click.option("--to", "date_to", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="screening and equity: referrals received on or before this day")
@click.option("--format", "output", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.option("--url", default=None, help="the service's base URL (default: from its settings)")
def reports(name: str, agency: str, date_from: Any, date_to: Any, output: str, url: str | None) -> None:
    """Print report NAME (screening, equity, caseload, outcomes) of an agency from the running suite."""
    import requests

    service, path, _ = REPORTS[name]
    params: dict[str, str] = {}
    if date_from and service == "intake":
        params["from"] = date_from.date().isoformat()
    if date_to and service == "intake":
        params["to"] = date_to.date().isoformat()
    base = _base_url(service, url)
    try:
        response = requests.get(base + path, params=params, timeout=30,
                                headers={"Authorization": f"Bearer {_token(agency)}"})
    except requests.RequestException as exc:
        raise click.ClickException(f"{service} is not reachable at {base}: {exc}") from None
    if response.status_code != 200:
        try:
            detail = response.json().get("detail") or response.json().get("title")
        except ValueError:
            detail = response.text[:300]
        raise click.ClickException(f"{service} answered {response.status_code}: {detail}")
    click.echo(render(rows_of(name, response.json()), output), nl=False)
