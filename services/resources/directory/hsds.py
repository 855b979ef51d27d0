"""Validation of documents against the HSDS 3.0 JSON Schemas shipped in `services/resources/hsds/schema`.

The schemas `$ref` each other by file name; a local `referencing` registry resolves them so validation
never touches the network.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource
from referencing.jsonschema import DRAFT202012

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "hsds" / "schema"
# The canonical home of the schemas; relative `$ref`s resolve against it, and the registry answers
# every URI under it from the local copies.
BASE_URI = "https://raw.githubusercontent.com/openreferral/specification/3.0/schema/"

# The HSDS object kinds the directory reads and writes (schema file stem = kind).
KINDS = (
    "organization",
    "service",
    "location",
    "service_at_location",
    "address",
    "phone",
    "schedule",
    "contact",
    "language",
    "taxonomy",
    "taxonomy_term",
    "attribute",
    "service_area",
    "program",
    "funding",
    "accessibility",
    "cost_option",
    "required_document",
    "organization_identifier",
    "metadata",
)


class UnknownHsdsKind(ValueError):
    """The kind names no HSDS schema this project ships."""


def _retrieve(uri: str) -> Resource[Any]:
    # Only files we ship can be retrieved: an unknown `$ref` fails instead of going to the network.
    if not uri.startswith(BASE_URI):
        raise NoSuchResource(ref=uri)  # type: ignore[call-arg]
    path = SCHEMA_DIR / uri.removeprefix(BASE_URI)
    if not path.is_file():
        raise NoSuchResource(ref=uri)  # type: ignore[call-arg]
    return Resource.from_contents(
        json.loads(path.read_text(encoding="utf-8")), default_specification=DRAFT202012
    )


@cache
def _registry() -> Registry[Any]:
    resources = []
    for path in sorted(SCHEMA_DIR.glob("*.json")):
        contents = json.loads(path.read_text(encoding="utf-8"))
        resources.append(
            (BASE_URI + path.name, Resource.from_contents(contents, default_specification=DRAFT202012))
        )
    return Registry(retrieve=_retrieve).with_resources(resources)  # type: ignore[call-arg]


def _schema_for(kind: str) -> dict[str, Any]:
    if kind == "organization":
        # HSDS's organization.json has no `services`; the compiled organization document nests them.
        # Checking them against service.json keeps the `$ref`s local instead of using the compiled copy.
        return {
            "$id": BASE_URI + "_organization_with_services.json",
            "allOf": [{"$ref": "organization.json"}],
            "properties": {"services": {"type": "array", "items": {"$ref": "service.json"}}},
        }
    return {"$id": BASE_URI + f"_{kind}_root.json", "$ref": f"{kind}.json"}


@cache
def _validator(kind: str) -> Draft202012Validator:
    if kind not in KINDS or not (SCHEMA_DIR / f"{kind}.json").is_file():
        raise UnknownHsdsKind(kind)
    return Draft202012Validator(_schema_for(kind), registry=_registry(), format_checker=FormatChecker())


def json_path(parts: Iterable[str | int], root: str = "$") -> str:
    """`["services", 0, "status"]` -> `$.services[0].status`."""
    out = root
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _message(error: ValidationError) -> str:
    return f"{json_path(error.absolute_path)}: {error.message}"


def validate_hsds(kind: str, document: Mapping[str, Any]) -> list[str]:
    """Every way `document` breaks the HSDS 3.0 schema of `kind` as `"<json path>: <reason>"`; [] if valid."""
    errors = sorted(
        _validator(kind).iter_errors(document), key=lambda e: (list(map(str, e.absolute_path)), e.message)
    )
    return [_message(e) for e in errors]


def hsds_errors(kind: str, document: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Like `validate_hsds`, as `(json path, reason)` pairs for callers that report fields separately."""
    errors = sorted(
        _validator(kind).iter_errors(document), key=lambda e: (list(map(str, e.absolute_path)), e.message)
    )
    return [(json_path(e.absolute_path), e.message) for e in errors]


def schema_properties(kind: str) -> dict[str, dict[str, Any]]:
    """The property definitions of an HSDS kind (used to coerce CSV strings and to walk nested documents)."""
    props = dict(_load_schema(kind)["properties"])
    if kind == "organization":
        # As in the compiled organization schema: organization documents nest their services.
        props.setdefault("services", {"name": "services", "type": "array", "items": {"$ref": "service.json"}})
    if kind == "service_at_location":
        # As in the compiled service_at_location schema: the service it links, nested.
        props.setdefault("service", {"name": "service", "$ref": "service.json"})
    return props


def schema_required(kind: str) -> list[str]:
    """The fields HSDS requires on a `kind` record."""
    return list(_load_schema(kind).get("required", []))


@cache
def _load_schema(kind: str) -> dict[str, Any]:
    path = SCHEMA_DIR / f"{kind}.json"
    if not path.is_file():
        raise UnknownHsdsKind(kind)
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data
