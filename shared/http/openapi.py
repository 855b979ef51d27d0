"""OpenAPI 3.1 generated from a service class's `@api` routes and their pydantic models.

The documents lint clean under Spectral's `spectral:oas` ruleset (`.spectral.yaml`, run by
`tests/unit/test_standards.py`): every tag is declared with a description (`api_tags` on the service
class), every operation has a description (the method's docstring, then who may call it), and
components no operation reaches are left out.
"""

from __future__ import annotations

import inspect
import json
import re
from typing import Any

from pydantic import TypeAdapter
from pydantic.json_schema import JsonSchemaMode

from shared.http.api import ApiEntrypoint, api_routes
from shared.http.pagination import PageQuery
from shared.http.problems import PROBLEM_MEDIA_TYPE, ProblemDocument

REF = "#/components/schemas/{model}"
CONVERTER = re.compile(r"<(?:(\w+):)?(\w+)>")
STATUS_TEXT = {
    200: "OK", 201: "Created", 202: "Accepted", 204: "No content", 400: "Malformed request",
    401: "Authentication required", 403: "Forbidden", 404: "Not found", 409: "Conflict",
    412: "Precondition failed", 413: "Body too large", 415: "Unsupported media type",
    422: "Invalid input", 428: "If-Match required", 503: "Unavailable",
}
PARAM_SCHEMA = {
    "uuid": {"type": "string", "format": "uuid"},
    "int": {"type": "integer"},
    "string": {"type": "string"},
    None: {"type": "string"},
}
CONTACT = {"name": "Diversion suite maintainers", "url": "https://diversion.example.org/"}


def _description(service_cls: type, name: str, route: ApiEntrypoint) -> str:
    """The method's docstring, then who may call the operation."""
    text = inspect.cleandoc(getattr(service_cls, name).__doc__ or "")
    access = "Public: no bearer token." if route.public else f"Roles: {', '.join(sorted(route.roles))}."
    return f"{text}\n\n{access}" if text else access


def _tags(service_cls: type, used: set[str]) -> list[dict[str, str]]:
    described: dict[str, str] = {}
    for klass in reversed(service_cls.__mro__):
        described.update(getattr(klass, "api_tags", {}) or {})
    service = getattr(service_cls, "name", "")
    described.setdefault(service, (service_cls.__doc__ or "").strip() or f"The {service} service.")
    return [{"name": tag, "description": described.get(tag) or f"Endpoints of the {service} service: {tag}."}
            for tag in sorted(used)]


def _reachable(document: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    """The schemas that the paths reach, directly or through other schemas (Spectral: no unused components)."""
    pattern = re.compile(r'"\$ref": "#/components/schemas/([^"]+)"')
    pending = set(pattern.findall(json.dumps(document)))
    kept: set[str] = set()
    while pending:
        name = pending.pop()
        if name in kept or name not in components:
            continue
        kept.add(name)
        pending |= set(pattern.findall(json.dumps(components[name])))
    return {name: schema for name, schema in components.items() if name in kept}


def _path(url: str) -> tuple[str, list[dict[str, Any]]]:
    params = []
    for converter, name in CONVERTER.findall(url):
        params.append({"name": name, "in": "path", "required": True,
                       "schema": PARAM_SCHEMA.get(converter or None, {"type": "string"})})
    return CONVERTER.sub(lambda m: "{" + m.group(2) + "}", url), params


def _error_statuses(route: ApiEntrypoint, has_path_params: bool) -> set[int]:
    statuses = set(route.errors)
    if not route.public:
        statuses |= {401, 403}
    if route.body_adapter is not None:
        statuses |= {400, 413, 415, 422}
    if route.query_model is not None:
        statuses.add(422)
        if issubclass(route.query_model, PageQuery):
            statuses.add(400)  # invalid-cursor
    if has_path_params:
        statuses |= {404, 422}  # 422: a path segment holding control characters
    return statuses


def openapi_document(service_cls: type, *, title: str, version: str, description: str) -> dict[str, Any]:  # noqa: C901 - builds one OpenAPI document section after another; each branch is one section of the spec
    routes = api_routes(service_cls)
    adapters: list[tuple[tuple[str, str], JsonSchemaMode, TypeAdapter[Any]]] = [
        (("problem", "serialization"), "serialization", TypeAdapter(ProblemDocument))
    ]
    for name, route in routes:
        if route.body_model is not None:
            adapters.append(((name, "body"), "validation", TypeAdapter(route.body_model)))
        if route.response_model is not None:
            adapters.append(((name, "response"), "serialization", TypeAdapter(route.response_model)))
        for status, model in getattr(route, "extra_responses", {}).items():
            adapters.append(((name, f"response-{status}"), "serialization", TypeAdapter(model)))
        if route.query_model is not None:
            adapters.append(((name, "query"), "validation", TypeAdapter(route.query_model)))
    schemas, definitions = TypeAdapter.json_schemas(
        [(key, mode, adapter) for key, mode, adapter in adapters], ref_template=REF
    )
    components: dict[str, Any] = dict(definitions.get("$defs", {}))

    paths: dict[str, Any] = {}
    for name, route in routes:
        path, params = _path(route.url)
        operation: dict[str, Any] = {
            "operationId": name,
            "summary": route.summary or name.replace("_", " "),
            "tags": list(route.tags) or [service_cls.name],  # type: ignore[attr-defined]
            "parameters": list(params),
            "responses": {},
        }
        operation["description"] = _description(service_cls, name, route)
        if route.person_data:
            operation["x-person-data"] = True  # every call is audited (CJIS AU-2); tests walk this flag
        if route.public:
            operation["security"] = []
        if route.query_model is not None:
            query_schema = schemas[((name, "query"), "validation")]
            if "$ref" in query_schema:
                query_schema = components[query_schema["$ref"].rsplit("/", 1)[1]]
            required = set(query_schema.get("required", []))
            for prop, schema in query_schema.get("properties", {}).items():
                operation["parameters"].append(
                    {"name": prop, "in": "query", "required": prop in required, "schema": schema}
                )
        for header in route.request_headers:
            operation["parameters"].append({"name": header, "in": "header", "required": False,
                                            "schema": {"type": "string", "maxLength": 200}})
        if route.body_model is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {route.media_type: {"schema": schemas[((name, "body"), "validation")]}},
            }
        ok: dict[str, Any] = {"description": STATUS_TEXT.get(route.status, "OK")}
        if route.response_model is not None:
            ok["content"] = {route.media_type: {"schema": schemas[((name, "response"), "serialization")]}}
        elif route.status != 204:
            untyped = {"type": "object"} if route.media_type == "application/json" else {"type": "string"}
            ok["content"] = {route.media_type: {"schema": untyped}}
        for alternative in route.alternatives:
            ok.setdefault("content", {})[alternative] = {"schema": {"type": "string"}}
        operation["responses"][str(route.status)] = ok
        for status, model in getattr(route, "extra_responses", {}).items():
            problem = isinstance(model, type) and issubclass(model, ProblemDocument)
            operation["responses"][str(status)] = {
                "description": STATUS_TEXT.get(status, "Response"),
                "content": {PROBLEM_MEDIA_TYPE if problem else "application/json": {
                    "schema": schemas[((name, f"response-{status}"), "serialization")]}},
            }
        for status in sorted(_error_statuses(route, bool(params))):
            operation["responses"].setdefault(str(status), {
                "description": STATUS_TEXT.get(status, "Error"),
                "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": REF.format(model="ProblemDocument")}}},
            })
        paths.setdefault(path, {})[route.method.lower()] = operation

    used_tags = {tag for operations in paths.values() for operation in operations.values()
                 for tag in operation["tags"]}
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": description, "contact": CONTACT,
                 "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"}},
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "servers": [{"url": "/"}],
        "tags": _tags(service_cls, used_tags),
        "paths": paths,
        "components": {
            "schemas": _reachable(paths, components),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
        "security": [{"bearer": []}],
    }
