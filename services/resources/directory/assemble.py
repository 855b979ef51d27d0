"""Turns raw HSDS rows from any importer into a Directory, one record at a time, reporting bad records.

A record is checked against its HSDS 3.0 schema, then against the normalized model; a bad one is
reported with where it came from and the JSON path of the offending field, and left out. Repeated ids
(nested HSDS repeats a phone under each owner) merge into one row. At the end every required reference
must resolve (a dangling one drops the record); a dangling optional one (a parent organization or term
published elsewhere) is kept as given, with a warning, so that nothing the source said is lost.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError

from .hsds import hsds_errors, json_path, schema_properties
from .model import LINK_ENTITY_TABLES, RECORD_BY_KIND, RECORD_TYPES, Attribute, Directory, Record

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class RecordIssue:
    """One problem with one imported record."""

    source: str  # file the record came from ("stl-directory.json", "phones.csv")
    index: int | None  # position of the top-level record (JSON list index) or CSV data row (1-based)
    kind: str  # HSDS kind of the record ("phone")
    record_id: str | None  # the record's id as given, if it had one
    path: str  # JSON path of the offending field, e.g. "$[3].services[0].phones[1].extension"
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        where = f"{self.source}" + (f" #{self.index}" if self.index is not None else "")
        return f"{self.severity}: {where} {self.kind} {self.record_id or '?'} at {self.path}: {self.message}"


@dataclass(frozen=True)
class _Origin:
    source: str
    index: int | None
    path: str


def _join(base: str, sub: str) -> str:
    """Append a field path from a schema check (`$.a[0]`) to a record's path (`$[2].services[1]`)."""
    return base + sub[1:] if sub.startswith("$") else f"{base}.{sub}"


@dataclass
class Collector:
    """Accumulates records into tables; `finish()` returns the Directory and every issue found."""

    issues: list[RecordIssue] = field(default_factory=list)
    _tables: dict[str, dict[uuid.UUID, Record]] = field(
        default_factory=lambda: {r.table: {} for r in RECORD_TYPES}
    )
    _origins: dict[tuple[str, uuid.UUID], _Origin] = field(default_factory=dict)
    _kept: set[tuple[str, uuid.UUID, str]] = field(default_factory=set)

    def issue(
        self,
        origin: _Origin,
        kind: str,
        record_id: object,
        path: str,
        message: str,
        severity: Severity = "error",
    ) -> None:
        rid = None if record_id is None else str(record_id)
        self.issues.append(RecordIssue(origin.source, origin.index, kind, rid, path, message, severity))

    def add(  # noqa: C901 - one HSDS record kind per branch, in the order the spec lists them
        self,
        kind: str,
        raw: Mapping[str, Any],
        *,
        source: str,
        index: int | None,
        path: str,
        inherited: Mapping[str, str] | None = None,
        defaults: Mapping[str, str] | None = None,
    ) -> Record | None:
        """Check and store one record given as flat HSDS fields; None (and an issue) if it is bad.

        `inherited` are foreign keys implied by where the record sat (nested under its owner); a record
        that names a different owner than the one it is nested under is an error. `defaults` fill fields
        the record leaves out (an attribute's `link_entity`) without overriding what it says.
        """
        origin = _Origin(source, index, path)
        record_id = raw.get("id")
        props = schema_properties(kind)
        flat: dict[str, Any] = {}
        for key, value in raw.items():
            if key not in props:
                self.issue(origin, kind, record_id, f"{path}.{key}", "not an HSDS field; ignored", "warning")
                continue
            if props[key].get("type") == "array" or "$ref" in props[key]:
                continue  # nested records: the importer walks them itself
            flat[key] = value
        bad = False
        for key, value in (inherited or {}).items():
            given = flat.get(key)
            if given in (None, ""):
                flat[key] = value
            elif str(given) != value:
                self.issue(
                    origin,
                    kind,
                    record_id,
                    f"{path}.{key}",
                    f"is {given} but the record is nested under {value}",
                )
                bad = True
        for key, value in (defaults or {}).items():
            if flat.get(key) in (None, ""):
                flat[key] = value
        for sub, message in hsds_errors(kind, flat):
            self.issue(origin, kind, record_id, _join(path, sub), message)
            bad = True
        if bad:
            return None
        model = RECORD_BY_KIND[kind]
        try:
            record = model.model_validate(flat)
        except ValidationError as exc:
            for err in exc.errors():
                loc = [p for p in err["loc"] if isinstance(p, str | int)]
                self.issue(origin, kind, record_id, _join(path, json_path(loc[:1])), err["msg"])
            return None
        return self._store(record, origin)

    def _store(self, record: Record, origin: _Origin) -> Record | None:
        table = self._tables[record.table]
        existing = table.get(record.id)
        if existing is None:
            table[record.id] = record
            self._origins[(record.table, record.id)] = origin
            return record
        # The same id again: nested HSDS repeats a record under each of its owners. Fill in what the
        # first copy left out; two different values for one field are a conflict.
        mine, theirs = existing.model_dump(), record.model_dump()
        merged = dict(mine)
        for key, value in theirs.items():
            if value is None or value == mine.get(key):
                continue
            if mine.get(key) is None:
                merged[key] = value
                continue
            first = self._origins[(record.table, record.id)]
            self.issue(
                origin,
                record.kind,
                record.id,
                f"{origin.path}.{key}",
                f"duplicate id with a different {key} than at {first.source} {first.path}; this copy ignored",
            )
            return existing
        stored = type(record).model_validate(merged)
        table[record.id] = stored
        return stored

    def issue_for(
        self,
        source: str,
        index: int | None,
        kind: str,
        record_id: object,
        path: str,
        message: str,
        severity: Severity = "error",
    ) -> None:
        """Report a problem the importer found before the record reached `add` (e.g. not an object)."""
        self.issue(_Origin(source, index, path), kind, record_id, path, message, severity)

    def warn(
        self, *, source: str, index: int | None, kind: str, record_id: object, path: str, message: str
    ) -> None:
        self.issue(_Origin(source, index, path), kind, record_id, path, message, "warning")

    def finish(self) -> Directory:  # noqa: C901 - the reference-resolution fixpoint: each branch is one kind of dangling reference
        """Resolve references until none dangles, then build the Directory."""
        changed = True
        while changed:
            changed = False
            for model in RECORD_TYPES:
                table = self._tables[model.table]
                for record_id in list(table):
                    record = table[record_id]
                    origin = self._origins[(model.table, record_id)]
                    updates: dict[str, Any] = {}
                    drop = False
                    for fk, target in model.references.items():
                        value = getattr(record, fk)
                        if value is None or value in self._tables[target]:
                            continue
                        if model.model_fields[fk].is_required():
                            self.issue(
                                origin,
                                model.kind,
                                record_id,
                                f"{origin.path}.{fk}",
                                f"no {target} record has id {value}",
                            )
                            drop = True
                        elif (model.table, record_id, fk) not in self._kept:
                            self._kept.add((model.table, record_id, fk))
                            self.issue(
                                origin,
                                model.kind,
                                record_id,
                                f"{origin.path}.{fk}",
                                f"no {target} record has id {value} here; kept as a reference to a record "
                                "published elsewhere",
                                "warning",
                            )
                    if isinstance(record, Attribute):
                        link_entity = record.link_entity
                        link_table = LINK_ENTITY_TABLES.get(link_entity)
                        if link_table is None:
                            # Not a table name (the HSDS examples say "link_entity"); the id still names
                            # the record, so the attribute stays attached to it.
                            owner = next((t for t, rows in self._tables.items() if record.link_id in rows), None)
                            if (model.table, record_id, "link_entity") not in self._kept:
                                self._kept.add((model.table, record_id, "link_entity"))
                                linked = f"linked by id to a {owner} record" if owner else \
                                    f"no record here has id {record.link_id}"
                                self.issue(
                                    origin,
                                    model.kind,
                                    record_id,
                                    f"{origin.path}.link_entity",
                                    f"unknown entity {link_entity!r}; {linked}; kept as given",
                                    "warning",
                                )
                        elif record.link_id not in self._tables[link_table]:
                            self.issue(
                                origin,
                                model.kind,
                                record_id,
                                f"{origin.path}.link_id",
                                f"no {link_table} record has id {record.link_id}",
                            )
                            drop = True
                    if drop:
                        del table[record_id]
                        changed = True
                    elif updates:
                        table[record_id] = record.model_copy(update=updates)
        return Directory.model_validate({name: list(rows.values()) for name, rows in self._tables.items()})
