"""Every official HSDS 3.0 example imports and exports again with every field it carries, and validates.

The examples are the Open Referral files copied into `services/resources/hsds/examples` (CC BY-SA 4.0).
A failure prints a structural diff: each path that is missing, added or different.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from services.resources.directory import CsvImporter, HsdsJsonImporter, export_hsds
from services.resources.directory.export import document_schema, export_documents
from services.resources.directory.hsds import SCHEMA_DIR, schema_properties

EXAMPLES = SCHEMA_DIR.parent / "examples"

# example file -> (kind of its documents, shape they follow)
JSON_EXAMPLES = {
    "organization_full.json": ("organization", "full"),
    "service_full.json": ("service", "full"),
    "service_at_location_full.json": ("service_at_location", "full"),
    "location.json": ("location", "full"),
    "taxonomy.json": ("taxonomy", "full"),
    "taxonomy_term.json": ("taxonomy_term", "full"),
    "organization_list.json": ("organization", "list"),
    "service_list.json": ("service", "list"),
    "service_at_location_list.json": ("service_at_location", "list"),
    "taxonomy_list.json": ("taxonomy", "full"),
    "taxonomy_term_list.json": ("taxonomy_term", "full"),
}
# Not directory records: the API's `/` answer. (`tabular.json` is the CSV tables as JSON, tested below.)
NOT_RECORDS = {"base.json", "tabular.json"}


def _time(value: Any) -> dt.time | None:
    try:
        return dt.time.fromisoformat(value) if isinstance(value, str) and ":" in value else None
    except ValueError:
        return None


def structural_diff(given: Any, exported: Any, path: str = "$") -> list[str]:
    """Every difference between two JSON values, as `path: what`.

    One normalisation is allowed: a time of day written `10:00` comes back as `10:00:00` (the same
    RFC 3339 time; the directory stores times, not their spelling).
    """
    out: list[str] = []
    if isinstance(given, dict) and isinstance(exported, dict):
        for key in sorted(set(given) | set(exported)):
            if key not in exported:
                out.append(f"{path}.{key}: missing from the export (was {given[key]!r:.80})")
            elif key not in given:
                out.append(f"{path}.{key}: added by the export ({exported[key]!r:.80})")
            else:
                out += structural_diff(given[key], exported[key], f"{path}.{key}")
    elif isinstance(given, list) and isinstance(exported, list):
        if len(given) != len(exported):
            out.append(f"{path}: {len(given)} items given, {len(exported)} exported")
        for i, (a, b) in enumerate(zip(given, exported, strict=False)):
            out += structural_diff(a, b, f"{path}[{i}]")
    elif (given != exported or type(given) is not type(exported)) and (
            _time(given) is None or _time(given) != _time(exported)):
        out.append(f"{path}: {given!r:.80} given, {exported!r:.80} exported")
    return out


def _documents(name: str) -> list[dict[str, Any]]:
    data = json.loads((EXAMPLES / name).read_text(encoding="utf-8"))
    return list(data["contents"]) if "contents" in data else [data]


def test_every_official_example_file_is_covered() -> None:
    files = {p.name for p in EXAMPLES.glob("*.json")}
    assert files == set(JSON_EXAMPLES) | NOT_RECORDS
    assert (EXAMPLES / "csv").is_dir()


@pytest.mark.parametrize("name", sorted(JSON_EXAMPLES))
def test_official_example_imports_then_exports_every_field(name: str) -> None:
    kind, shape = JSON_EXAMPLES[name]
    given = _documents(name)

    result = HsdsJsonImporter(kind).load_documents(given, source_name=name)
    exported = export_documents(result.directory, kind, [uuid.UUID(d["id"]) for d in given], shape=shape)

    assert result.errors == []
    diff = structural_diff(given, exported)
    assert diff == [], f"{name} import → export differs:\n" + "\n".join(diff)
    validator = Draft202012Validator(document_schema(kind, shape))
    for document in exported:
        assert [e.message for e in validator.iter_errors(document)] == []


@pytest.mark.parametrize("name", ["service_full.json", "service_at_location_full.json"])
def test_the_organization_document_of_an_example_validates_and_round_trips(name: str) -> None:
    kind, _ = JSON_EXAMPLES[name]
    first = HsdsJsonImporter(kind).load_documents(_documents(name)).directory

    organizations = export_hsds(first)  # validates against HSDS (raises otherwise)
    second = HsdsJsonImporter().load_documents(organizations).directory

    assert second.normalized() == first.normalized()


def test_organization_full_keeps_what_the_old_importer_dropped() -> None:
    directory = HsdsJsonImporter().load(EXAMPLES / "organization_full.json").directory

    counts = directory.counts()
    for table in ("funding", "accessibility", "programs", "organization_identifiers", "cost_options",
                  "required_documents", "metadata", "schedules", "service_areas", "languages", "attributes"):
        assert counts[table] >= 1, table
    (service,) = directory.services
    assert str(service.program_id) == "e7ec2e57-4540-43fa-b2c7-6be5a0ef7f42"
    (funding,) = directory.funding
    assert (funding.organization_id, funding.service_id) == (directory.organizations[0].id, service.id)


def _cell(value: str, prop: dict[str, Any]) -> Any:
    if prop.get("type") == "number":
        number = float(value)
        return int(number) if number.is_integer() else number
    return value


CSV_KINDS = {table: kind for kind, table in (
    ("organization", "organizations"), ("service", "services"), ("location", "locations"),
    ("service_at_location", "service_at_location"), ("address", "addresses"), ("contact", "contacts"),
    ("phone", "phones"), ("schedule", "schedules"), ("language", "languages"), ("service_area", "service_areas"),
    ("taxonomy", "taxonomies"), ("taxonomy_term", "taxonomy_terms"), ("attribute", "attributes"),
    ("program", "programs"), ("funding", "funding"), ("accessibility", "accessibility"),
    ("cost_option", "cost_options"), ("required_document", "required_documents"),
    ("organization_identifier", "organization_identifiers"), ("metadata", "metadata"),
)}


def test_official_tabular_json_example_imports_every_field_of_every_table() -> None:
    tables = json.loads((EXAMPLES / "tabular.json").read_text(encoding="utf-8"))
    result = CsvImporter().load(EXAMPLES / "tabular.json")
    stored = {(type(r).kind, str(r.id)): r.hsds()
              for table in result.directory.counts() for r in result.directory.rows(table)}

    assert result.errors == []
    differences: list[str] = []
    for file_name, rows in tables.items():
        stem = file_name.removesuffix(".csv")
        if stem == "meta_table_descriptions":
            continue  # describes the tables themselves, not directory records
        for number, row in enumerate(rows, start=1):
            record = stored.get((CSV_KINDS[stem], row["id"]))
            props = schema_properties(CSV_KINDS[stem])
            # Tables are text typed by the schema: the example's numeric identifiers are strings in HSDS.
            given = {k: str(v) if props[k].get("type") == "string" and not isinstance(v, str) else v
                     for k, v in row.items() if v not in (None, "")}
            if record is None:
                differences.append(f"{file_name} row {number}: not imported")
                continue
            differences += [f"{file_name} row {number} {d}" for d in structural_diff(given, record)]
    assert differences == [], "\n".join(differences)


def test_official_csv_example_imports_every_cell_of_every_table() -> None:
    folder: Path = EXAMPLES / "csv"
    result = CsvImporter().load(folder)
    stored = {(type(r).kind, str(r.id)): r.hsds()
              for table in result.directory.counts() for r in result.directory.rows(table)}

    assert result.errors == []
    missing: list[str] = []
    tables = sorted(p.stem for p in folder.glob("*.csv"))
    assert set(tables) == set(CSV_KINDS) | {"meta_table_descriptions"}
    for stem in tables:
        if stem == "meta_table_descriptions":
            continue  # describes the tables themselves, not directory records
        kind = CSV_KINDS[stem]
        props = schema_properties(kind)
        with (folder / f"{stem}.csv").open(encoding="utf-8-sig") as handle:
            for number, row in enumerate(csv.DictReader(handle), start=1):
                record = stored.get((kind, row["id"]))
                if record is None:
                    missing.append(f"{stem}.csv row {number}: not imported")
                    continue
                for key, value in row.items():
                    if value in ("", None):
                        continue
                    want = _cell(value, props[key])
                    got = record.get(key)
                    if got != want and not (_time(want) and _time(want) == _time(got)):
                        missing.append(f"{stem}.csv row {number} {key}: {want!r} given, {got!r} stored")
    assert missing == [], "\n".join(missing)
