"""HSDS 3.0 JSON export: a Directory as nested HSDS documents, shaped by the official compiled schemas.

A document is a tree walked along the compiled schema of its kind (`compiled/organization.json`,
`compiled/service.json`, `compiled/service_at_location.json`, or a `*_list.json` for list items): each
nested array or object the schema names holds every row related to its owner, so a phone that belongs
to an organization, a contact and a location appears under each of them, as in the HSDS examples. A
foreign key is written only where the nesting does not already say it, so importing an export (or an
official example) and exporting it again gives back the same document.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Iterable
from functools import cache
from typing import Any

from .hsds import SCHEMA_DIR, validate_hsds
from .model import RECORD_BY_KIND, Attribute, Directory, Metadata, Record

COMPILED = SCHEMA_DIR / "compiled"

# object key -> the owner's field that names the nested record
OBJECT_KEYS = {
    "organization": "organization_id",
    "program": "program_id",
    "location": "location_id",
    "service": "service_id",
    "taxonomy_term": "taxonomy_term_id",
    "taxonomy_detail": "taxonomy_id",
}


class InvalidHsdsExport(ValueError):
    """The export does not validate against HSDS 3.0 (a bug: a Directory should always export cleanly)."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors[:10]))
        self.errors = errors


@cache
def _compiled(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((COMPILED / f"{name}.json").read_text(encoding="utf-8"))
    return data


def document_schema(kind: str, shape: str = "full") -> dict[str, Any]:
    """The compiled HSDS schema a `kind` document of this `shape` ("full" or "list") follows."""
    if shape == "list" and kind in ("organization", "service", "service_at_location"):
        return _compiled(f"{kind}_list")
    if kind in ("organization", "service", "service_at_location"):
        return _compiled(kind)
    if kind == "location":
        return dict(_compiled("organization")["properties"]["locations"]["items"])
    term = _compiled("service")["properties"]["attributes"]["items"]["properties"]["taxonomy_term"]
    if kind == "taxonomy_term":
        return dict(term)
    if kind == "taxonomy":
        return dict(term["properties"]["taxonomy_detail"])
    raise ValueError(f"no HSDS document shape for {kind!r}")


def _reference_fields(record: Record) -> list[str]:
    fields = list(record.references)
    if isinstance(record, Attribute):
        fields.append("link_id")
    if isinstance(record, Metadata):
        fields.append("resource_id")
    return fields


class _Index:
    """The directory's rows by id and by each foreign key, built once per export."""

    def __init__(self, directory: Directory) -> None:
        self.by_id: dict[str, dict[uuid.UUID, Record]] = {}
        self.by_fk: dict[tuple[str, str], dict[uuid.UUID, list[Record]]] = {}
        for table in directory.counts():
            rows = directory.rows(table)
            kind = type(rows[0]).kind if rows else table
            self.by_id[kind] = {r.id: r for r in rows}
            for row in rows:
                for fk in _reference_fields(row):
                    value = getattr(row, fk)
                    if value is not None:
                        self.by_fk.setdefault((row.kind, fk), defaultdict(list))[value].append(row)

    def children(self, child_kind: str, fk: str, owner_id: uuid.UUID) -> list[Record]:
        return list(self.by_fk.get((child_kind, fk), {}).get(owner_id, []))


class _Document:
    """One document being written: its rows, and which relations its nesting already expresses."""

    def __init__(self, index: _Index) -> None:
        self.index = index
        self.expressed: set[tuple[str, uuid.UUID, str]] = set()
        self.written: list[tuple[dict[str, Any], Record, dict[str, Any]]] = []

    def render(self, record: Record, schema: dict[str, Any], ancestors: tuple[tuple[str, uuid.UUID], ...],
               flat: frozenset[str] = frozenset()) -> dict[str, Any]:
        properties: dict[str, Any] = schema.get("properties", {})
        references = set(_reference_fields(record))
        values = record.hsds()
        doc: dict[str, Any] = {}
        for key, prop in properties.items():
            if key in values and key not in references and prop.get("type") not in ("array", "object"):
                doc[key] = values[key]
        self.written.append((doc, record, properties))
        here = ancestors + ((record.kind, record.id),)
        for key, prop in properties.items():
            if key in flat:
                prop = {**prop, "items": {**prop.get("items", {}), "properties": {
                    k: v for k, v in prop.get("items", {}).get("properties", {}).items()
                    if v.get("type") not in ("array", "object")}}}
            if prop.get("type") == "array" and isinstance(prop.get("items"), dict) and "name" in prop["items"]:
                child_kind = prop["items"]["name"]
                fk = "link_id" if child_kind == "attribute" else "resource_id" if child_kind == "metadata" \
                    else f"{record.kind}_id"
                items = [
                    self.render(child, prop["items"], here)
                    for child in self.index.children(child_kind, fk, record.id)
                    if (child.kind, child.id) not in here
                ]
                for child_id in (item["id"] for item in items):
                    self.expressed.add((child_kind, uuid.UUID(child_id), fk))
                if items:
                    doc[key] = items
            elif prop.get("type") == "object" and key in OBJECT_KEYS and "name" in prop:
                target_id = getattr(record, OBJECT_KEYS[key], None)
                child = self.index.by_id.get(prop["name"], {}).get(target_id) if target_id else None
                if child is None or (child.kind, child.id) in here:
                    continue
                doc[key] = self.render(child, prop, here)
                self.expressed.add((record.kind, record.id, OBJECT_KEYS[key]))
        return doc

    def finish(self) -> None:
        """Spell out each foreign key that no nesting in this document expresses."""
        for doc, record, properties in self.written:
            for fk in _reference_fields(record):
                value = getattr(record, fk)
                if value is not None and fk in properties and (record.kind, record.id, fk) not in self.expressed:
                    doc[fk] = str(value)


def export_documents(
    directory: Directory,
    kind: str,
    ids: Iterable[uuid.UUID] | None = None,
    *,
    shape: str = "full",
    flat: Iterable[str] = (),
) -> list[dict[str, Any]]:
    """The `kind` records of the directory (or those with these ids, in that order) as HSDS documents.

    `shape="list"` writes the HSDS list shape (`compiled/<kind>_list.json`); `flat` names nested arrays
    of the root whose items carry only their own fields (an organization's services, by id and name).
    """
    index = _Index(directory)
    rows = index.by_id.get(kind, {})
    wanted = list(rows.values()) if ids is None else [rows[i] for i in ids if i in rows]
    schema = document_schema(kind, shape)
    documents = []
    for record in wanted:
        document = _Document(index)
        documents.append(document.render(record, schema, (), frozenset(flat)))
        document.finish()
    return documents


def export_hsds(directory: Directory, *, validate: bool = True) -> list[dict[str, Any]]:
    """The directory as HSDS 3.0 organization documents (nested services, locations, phones...).

    Rows that no organization reaches (a taxonomy term no attribute uses, a location no organization
    or service uses) cannot appear in this format; `unreachable(directory)` lists them.
    """
    documents = export_documents(directory, "organization")
    if validate:
        errors = [
            f"organization {doc['id']} {error}"
            for doc in documents
            for error in validate_hsds("organization", doc)
        ]
        if errors:
            raise InvalidHsdsExport(errors)
    return documents


def unreachable(directory: Directory) -> dict[str, list[uuid.UUID]]:
    """Rows `export_hsds` cannot place under any organization, per table (empty tables left out)."""
    found: dict[str, set[str]] = defaultdict(set)

    def walk(value: Any, table_hint: str | None) -> None:
        if isinstance(value, dict):
            if table_hint is not None and "id" in value:
                found[table_hint].add(value["id"])
            for key, child in value.items():
                walk(child, _KEY_TABLES.get(key))
        elif isinstance(value, list):
            for item in value:
                walk(item, table_hint)

    walk(export_hsds(directory, validate=False), "organizations")
    missing: dict[str, list[uuid.UUID]] = {}
    for table in directory.counts():
        ids = [r.id for r in directory.rows(table) if str(r.id) not in found[table]]
        if ids:
            missing[table] = ids
    return missing


_KEY_TABLES = {
    **{r.table: r.table for r in RECORD_BY_KIND.values()},
    "location": "locations",
    "service": "services",
    "organization": "organizations",
    "program": "programs",
    "taxonomy_term": "taxonomy_terms",
    "taxonomy_detail": "taxonomies",
}
