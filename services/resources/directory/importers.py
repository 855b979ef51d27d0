"""Directory importers (entry-point group `diversion.importers`): HSDS 3.0 nested JSON and HSDS tabular CSV.

An importer reads a source into a normalized Directory; bad records are reported (source, index, id,
JSON path) and left out while good ones load. `on_progress(done, total)` lets a CLI draw progress.

Over 400 lines on purpose: both importers share the source handling (files, directories, zips), the
problem reports and the record building, and the plug-in registry names them from this one module.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import IO, Any, ClassVar, Protocol, runtime_checkable

from .assemble import Collector, RecordIssue
from .hsds import schema_properties, schema_required
from .model import RECORD_BY_KIND, RECORD_TYPES, Directory

ProgressCallback = Callable[[int, int], None]
Source = Path | str | IO[str] | IO[bytes]

ENTRY_POINT_GROUP = "diversion.importers"


@dataclass
class ImportResult:
    """What an import produced: the good records, and an issue per bad (or partly ignored) record."""

    directory: Directory
    issues: list[RecordIssue] = field(default_factory=list)
    total: int = 0  # top-level records read (organizations for JSON, rows for CSV)

    @property
    def errors(self) -> list[RecordIssue]:
        return [i for i in self.issues if i.severity == "error"]

    @property
    def warnings(self) -> list[RecordIssue]:
        return [i for i in self.issues if i.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors


@runtime_checkable
class DirectoryImporter(Protocol):
    """What a `diversion.importers` plugin provides."""

    name: ClassVar[str]

    def load(self, source: Source, on_progress: ProgressCallback | None = None) -> ImportResult: ...


class UnknownImporter(LookupError):
    """No installed `diversion.importers` plugin has this name."""


class UnreadableSource(ValueError):
    """The source is not the format the importer reads (not JSON, no CSV tables...)."""


def available_importers() -> list[str]:
    return sorted(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))


def get_importer(name: str) -> DirectoryImporter:
    """The installed importer plugin registered under `name` (e.g. "hsds_json", "csv")."""
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            importer: DirectoryImporter = ep.load()()
            return importer
    raise UnknownImporter(f"{name!r}; installed: {', '.join(available_importers()) or 'none'}")


def _source_name(source: Source) -> str:
    if isinstance(source, str | Path):
        return Path(source).name
    return str(getattr(source, "name", "<stream>"))


# --- HSDS nested JSON -------------------------------------------------------------------------------

LINK = "<link>"  # attributes take link_id (and, unless they say, link_entity) from their owner
META = "<meta>"  # metadata takes resource_id from the record it describes

# kind -> {array key -> (child kind, foreign key the child gets from its owner)}
ARRAY_CHILDREN: dict[str, dict[str, tuple[str, str]]] = {
    "organization": {
        "funding": ("funding", "organization_id"),
        "contacts": ("contact", "organization_id"),
        "phones": ("phone", "organization_id"),
        "locations": ("location", "organization_id"),
        "programs": ("program", "organization_id"),
        "organization_identifiers": ("organization_identifier", "organization_id"),
        "services": ("service", "organization_id"),
    },
    "service": {
        "phones": ("phone", "service_id"),
        "schedules": ("schedule", "service_id"),
        "service_areas": ("service_area", "service_id"),
        "service_at_locations": ("service_at_location", "service_id"),
        "languages": ("language", "service_id"),
        "funding": ("funding", "service_id"),
        "cost_options": ("cost_option", "service_id"),
        "required_documents": ("required_document", "service_id"),
        "contacts": ("contact", "service_id"),
    },
    "location": {
        "languages": ("language", "location_id"),
        "addresses": ("address", "location_id"),
        "contacts": ("contact", "location_id"),
        "accessibility": ("accessibility", "location_id"),
        "phones": ("phone", "location_id"),
        "schedules": ("schedule", "location_id"),
    },
    "service_at_location": {
        "contacts": ("contact", "service_at_location_id"),
        "phones": ("phone", "service_at_location_id"),
        "schedules": ("schedule", "service_at_location_id"),
    },
    "contact": {"phones": ("phone", "contact_id")},
    "phone": {"languages": ("language", "phone_id")},
}
for _kind in RECORD_BY_KIND:
    _children = ARRAY_CHILDREN.setdefault(_kind, {})
    if _kind not in ("attribute", "metadata", "taxonomy", "taxonomy_term"):
        _children["attributes"] = ("attribute", LINK)
    if _kind != "metadata":
        _children["metadata"] = ("metadata", META)
# kind -> {object key -> (child kind, foreign key the owner gets from the child)}
OBJECT_CHILDREN: dict[str, dict[str, tuple[str, str]]] = {
    "service_at_location": {"location": ("location", "location_id"), "service": ("service", "service_id")},
    "attribute": {"taxonomy_term": ("taxonomy_term", "taxonomy_term_id")},
    "taxonomy_term": {"taxonomy_detail": ("taxonomy", "taxonomy_id")},
    "service": {"organization": ("organization", "organization_id"), "program": ("program", "program_id")},
}
# What a document at the top of a file may be: an organization unless the caller says otherwise.
ROOT_KINDS = ("organization", "service", "service_at_location", "location", "taxonomy", "taxonomy_term")


class HsdsJsonImporter:
    """HSDS 3.0 JSON: a list of organization documents with nested services, locations and so on.

    Also accepts one organization document, or an HSDS API page (`{"contents": [...]}`). With `kind`
    the documents are services, service_at_locations, locations, taxonomies or taxonomy terms instead
    (what the HSDS API's `/services/{id}` or `/service_at_locations` answer).
    """

    name: ClassVar[str] = "hsds_json"

    def __init__(self, kind: str = "organization") -> None:
        if kind not in ROOT_KINDS:
            raise ValueError(f"documents are one of {', '.join(ROOT_KINDS)}, not {kind!r}")
        self.kind = kind

    def load(self, source: Source, on_progress: ProgressCallback | None = None) -> ImportResult:
        name = _source_name(source)
        documents = self._documents(source)
        return self.load_documents(documents, source_name=name, on_progress=on_progress)

    def load_documents(
        self,
        documents: list[Any],
        *,
        source_name: str = "<documents>",
        on_progress: ProgressCallback | None = None,
    ) -> ImportResult:
        collector = Collector()
        total = len(documents)
        for index, document in enumerate(documents):
            path = f"$[{index}]"
            if not isinstance(document, Mapping):
                collector.issue_for(source_name, index, self.kind, None, path, "is not a JSON object")
            else:
                self._walk(collector, self.kind, document, source_name, index, path, {})
            if on_progress is not None:
                on_progress(index + 1, total)
        return ImportResult(collector.finish(), collector.issues, total)

    @staticmethod
    def _documents(source: Source) -> list[Any]:
        try:
            if isinstance(source, str | Path):
                data = json.loads(Path(source).read_text(encoding="utf-8"))
            else:
                data = json.load(source)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise UnreadableSource(f"not JSON: {exc}") from exc
        if isinstance(data, Mapping):
            if isinstance(data.get("contents"), list):
                return list(data["contents"])
            return [data]
        if isinstance(data, list):
            return data
        raise UnreadableSource("expected a list of HSDS organizations, one organization or a page of them")

    def _walk(  # noqa: C901 - walks HSDS's nested organization tree; a branch per nested collection of the spec
        self,
        collector: Collector,
        kind: str,
        document: Mapping[str, Any],
        source: str,
        index: int,
        path: str,
        inherited: dict[str, str],
        defaults: dict[str, str] | None = None,
    ) -> str | None:
        """Store `document` and everything nested in it; the stored id, or None if it was rejected."""
        record_id = document.get("id")
        props = schema_properties(kind)
        own = dict(inherited)
        for key, (child_kind, owner_fk) in OBJECT_CHILDREN.get(kind, {}).items():
            child = document.get(key)
            if child is None:
                continue
            if owner_fk in inherited:
                continue  # the owner the record is already nested under, repeated
            if not isinstance(child, Mapping):
                collector.issue_for(source, index, kind, record_id, f"{path}.{key}", "is not a JSON object")
                return None
            child_id = self._walk(collector, child_kind, child, source, index, f"{path}.{key}", {})
            if child_id is None:
                return None
            given = document.get(owner_fk)
            if given not in (None, "") and str(given) != child_id:
                collector.issue_for(
                    source,
                    index,
                    kind,
                    record_id,
                    f"{path}.{owner_fk}",
                    f"is {given} but {key}.id is {child_id}",
                )
                return None
            own[owner_fk] = child_id
        record = collector.add(kind, document, source=source, index=index, path=path, inherited=own,
                               defaults=defaults)
        if record is None:
            return None
        arrays = ARRAY_CHILDREN.get(kind, {})
        for key, value in document.items():
            prop = props.get(key)
            if prop is None or prop.get("type") != "array" or not value:
                if prop is not None and "$ref" in prop and key not in OBJECT_CHILDREN.get(kind, {}) and value:
                    collector.warn(
                        source=source,
                        index=index,
                        kind=kind,
                        record_id=record_id,
                        path=f"{path}.{key}",
                        message="not modelled by the directory; dropped",
                    )
                continue
            if key not in arrays:
                collector.warn(
                    source=source,
                    index=index,
                    kind=kind,
                    record_id=record_id,
                    path=f"{path}.{key}",
                    message="not modelled by the directory; dropped",
                )
                continue
            if not isinstance(value, list):
                continue  # the schema check in `add` has reported it
            child_kind, fk = arrays[key]
            link: dict[str, str] = {fk: str(record.id)}
            child_defaults: dict[str, str] | None = None
            if fk == LINK:
                link, child_defaults = {"link_id": str(record.id)}, {"link_entity": kind}
            elif fk == META:
                link = {"resource_id": str(record.id)}
            for i, item in enumerate(value):
                child_path = f"{path}.{key}[{i}]"
                if not isinstance(item, Mapping):
                    collector.issue_for(source, index, child_kind, None, child_path, "is not a JSON object")
                    continue
                self._walk(collector, child_kind, item, source, index, child_path, link, child_defaults)
        return str(record.id)


# --- HSDS tabular CSV -------------------------------------------------------------------------------

# HSDS tabular file names; note service_at_location.csv is singular in the specification.
CSV_FILES: dict[str, str] = {
    "organizations": "organizations.csv",
    "services": "services.csv",
    "locations": "locations.csv",
    "service_at_locations": "service_at_location.csv",
    "addresses": "addresses.csv",
    "contacts": "contacts.csv",
    "phones": "phones.csv",
    "schedules": "schedules.csv",
    "languages": "languages.csv",
    "service_areas": "service_areas.csv",
    "taxonomies": "taxonomies.csv",
    "taxonomy_terms": "taxonomy_terms.csv",
    "attributes": "attributes.csv",
    "programs": "programs.csv",
    "funding": "funding.csv",
    "accessibility": "accessibility.csv",
    "cost_options": "cost_options.csv",
    "required_documents": "required_documents.csv",
    "organization_identifiers": "organization_identifiers.csv",
    "metadata": "metadata.csv",
}
# HSDS tables the directory does not model; present files are reported, not silently ignored.
UNMODELLED_CSV = ("meta_table_descriptions.csv",)


def _coerce(value: str, prop: Mapping[str, Any]) -> Any:
    """A CSV cell as the JSON type its HSDS property expects (left as text if it is not one)."""
    if prop.get("type") == "number":
        try:
            return int(value)
        except ValueError:
            try:
                return float(value)
            except ValueError:
                return value
    return value


def _typed(value: Any, prop: Mapping[str, Any]) -> Any:
    """A table cell (CSV text, or a JSON value of tabular JSON) as the type its HSDS property expects."""
    if isinstance(value, str):
        return _coerce(value, prop)
    if prop.get("type") == "string" and isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)  # tables are text: tabular JSON's numeric identifiers are HSDS strings
    return value


class CsvImporter:
    """HSDS 3.0 tabular CSV: one file per table (organizations.csv, services.csv, ...) in a folder or zip.

    Also reads the same tables as one JSON object (`{"organizations.csv": [rows...], ...}`, HSDS's
    `tabular.json`).
    """

    name: ClassVar[str] = "csv"

    def load(self, source: Source, on_progress: ProgressCallback | None = None) -> ImportResult:  # noqa: C901 - one branch per HSDS CSV table the import accepts
        tables: list[tuple[str, str, list[dict[str, Any]]]] = []
        if isinstance(source, str | Path) and str(source).endswith(".json"):
            try:
                data = json.loads(Path(source).read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise UnreadableSource(f"not JSON: {exc}") from exc
            if not isinstance(data, Mapping):
                raise UnreadableSource("tabular JSON is an object of tables: {\"organizations.csv\": [...]}")
            for model in RECORD_TYPES:
                rows = data.get(CSV_FILES[model.table])
                if isinstance(rows, list):
                    records = [dict(r) for r in rows if isinstance(r, Mapping)]
                    tables.append((model.kind, CSV_FILES[model.table], records))
            unmodelled = [f for f in UNMODELLED_CSV if f in data]
        else:
            with self._files(source) as files:
                for model in RECORD_TYPES:
                    file_name = CSV_FILES[model.table]
                    text = files.get(file_name)
                    if text is not None:
                        tables.append((model.kind, file_name, list(csv.DictReader(io.StringIO(text)))))
                unmodelled = [f for f in UNMODELLED_CSV if f in files]
        if not tables:
            raise UnreadableSource(
                f"no HSDS CSV tables ({', '.join(CSV_FILES.values())}) in {_source_name(source)}"
            )
        collector = Collector()
        for file_name in unmodelled:
            collector.warn(
                source=file_name,
                index=None,
                kind=file_name.removesuffix(".csv"),
                record_id=None,
                path="$",
                message="table not modelled by the directory; dropped",
            )
        total = sum(len(rows) for _, _, rows in tables)
        done = 0
        for kind, file_name, rows in tables:
            props = schema_properties(kind)
            required_text = {k for k in schema_required(kind) if k == "description"}
            for row_number, row in enumerate(rows, start=1):
                # An empty cell is an absent field, except a required description: HSDS requires
                # one on organizations and taxonomy terms, and "" is its honest empty value.
                record = {
                    key: _typed(value, props.get(key, {}))
                    for key, value in row.items()
                    if key is not None and (value not in (None, "") or key in required_text)
                }
                collector.add(kind, record, source=file_name, index=row_number, path="$")
                done += 1
                if on_progress is not None:
                    on_progress(done, total)
        return ImportResult(collector.finish(), collector.issues, total)

    @staticmethod
    @contextmanager
    def _files(source: Source) -> Iterator[dict[str, str]]:
        """File name -> text of every CSV in a folder, a zip file, or a binary stream of a zip."""
        if isinstance(source, str | Path) and Path(source).is_dir():
            yield {p.name: p.read_text(encoding="utf-8-sig") for p in Path(source).glob("*.csv")}
            return
        try:
            opened = zipfile.ZipFile(source if isinstance(source, str | Path) else source)  # type: ignore[arg-type]
        except (zipfile.BadZipFile, FileNotFoundError, IsADirectoryError) as exc:
            raise UnreadableSource(f"not a folder or zip of HSDS CSV files: {exc}") from exc
        with opened as archive:
            # A zip may hold the tables in a sub-folder; the file name decides the table.
            yield {
                Path(info.filename).name: archive.read(info).decode("utf-8-sig")
                for info in archive.infolist()
                if info.filename.endswith(".csv") and not info.is_dir()
            }


# --- CLI --------------------------------------------------------------------------------------------


def import_cli(plugin_name: str, path: Path | str) -> ImportResult:
    """Import `path` with the named plugin, drawing a progress bar and a table of the records it rejected."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    console = Console()
    importer = get_importer(plugin_name)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task(f"{importer.name}: {Path(path).name}", total=None)

        def on_progress(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        result = importer.load(Path(path), on_progress=on_progress)
    counts = ", ".join(f"{n} {table}" for table, n in result.directory.counts().items() if n)
    console.print(f"Loaded {counts or 'nothing'}.")
    if result.issues:
        table = Table(title=f"{len(result.errors)} rejected, {len(result.warnings)} warnings")
        for column in ("severity", "source", "#", "kind", "id", "path", "problem"):
            table.add_column(column, overflow="fold")
        for issue in result.issues:
            table.add_row(
                issue.severity,
                issue.source,
                "" if issue.index is None else str(issue.index),
                issue.kind,
                issue.record_id or "",
                issue.path,
                issue.message,
                style="red" if issue.severity == "error" else "yellow",
            )
        console.print(table)
    return result
