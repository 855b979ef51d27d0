"""The OpenAPI documents state what the HTTP edge enforces, so a schema-valid request is one the edge takes."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from shared.http.export_openapi import render
from shared.http.limits import BAD_TEXT
from shared.http.openapi import EdgeJsonSchema
from shared.types import EMAIL_SCHEMA, NONBLANK_TEXT_PATTERN, TEXT_PATTERN, Email, IsoDate, IsoDateTime

SERVICES = ("intake", "casework", "resources", "notifications")


def _document(service: str) -> dict[str, Any]:
    return json.loads(render(service))


def _strings(schema: Any) -> list[dict[str, Any]]:
    found, stack = [], [schema]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            if value.get("type") == "string":
                found.append(value)
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return found


def _values(mapping: dict[str, Any]) -> Any:
    """A dict's value schema: pydantic writes it under patternProperties when its keys have a pattern."""
    if "additionalProperties" in mapping:
        return mapping["additionalProperties"]
    (schema,) = mapping["patternProperties"].values()
    return schema


@pytest.mark.parametrize("service", SERVICES)
def test_every_request_string_refuses_control_characters(service):
    document = _document(service)
    requests = [operation.get("requestBody", {}) for path in document["paths"].values() for operation in path.values()]
    requests += [operation["parameters"] for path in document["paths"].values() for operation in path.values()]
    names = set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', json.dumps(requests)))
    schemas = [document["components"]["schemas"][name] for name in names if not name.endswith("-Output")]
    for schema in _strings(requests) + _strings(schemas):
        if "enum" in schema or "const" in schema or "format" in schema:
            continue
        assert "pattern" in schema, schema
        assert not re.search(schema["pattern"], "a\x00b"), schema


@pytest.mark.parametrize("service", SERVICES)
def test_if_match_is_required_where_the_route_answers_428_without_it(service):
    for path, operations in _document(service)["paths"].items():
        for method, operation in operations.items():
            if_match = [p for p in operation["parameters"] if p["name"] == "If-Match"]
            if if_match and if_match[0]["required"]:
                assert "428" in operation["responses"], f"{method} {path}"


def test_the_text_pattern_refuses_what_the_edge_refuses():
    for code in range(0x80):
        char = chr(code)
        assert bool(re.match(TEXT_PATTERN, char)) == (not BAD_TEXT.search(char)), hex(code)
    assert re.match(NONBLANK_TEXT_PATTERN, " a ") and not re.match(NONBLANK_TEXT_PATTERN, " \u0085\u3000")


def test_a_date_is_written_as_a_date_not_a_number():
    dates = TypeAdapter(IsoDate)
    assert str(dates.validate_json('"2026-01-31"', strict=True)) == "2026-01-31"
    for bad in ("0", '"0"', '"1700000000"', '"2026-13-01"'):
        with pytest.raises(ValidationError):
            dates.validate_json(bad, strict=True)
    moments = TypeAdapter(IsoDateTime)
    assert moments.validate_json('"2026-01-31T09:30:00Z"', strict=True).year == 2026
    with pytest.raises(ValidationError):
        moments.validate_json("1700000000", strict=True)


def test_the_email_pattern_leaves_out_what_the_email_check_refuses():
    emails = TypeAdapter(Email)
    for address in ("someone@example.com", "a.b@sub.example.org"):
        assert re.match(EMAIL_SCHEMA["pattern"], address)
        emails.validate_python(address)
    for address in ("a@b.test", "a@x.LOCAL", "0@0.0", "a@localhost", "a@b.c1"):
        assert not re.match(EMAIL_SCHEMA["pattern"], address), address
        with pytest.raises(ValidationError):
            emails.validate_python(address)


def test_open_models_and_dicts_name_their_keys_as_text():
    class Open(BaseModel):
        model_config = ConfigDict(str_strip_whitespace=True)
        labels: dict[str, int]
        name: str

    schema = Open.model_json_schema(schema_generator=EdgeJsonSchema)
    assert schema["propertyNames"]["pattern"] == TEXT_PATTERN
    labels = schema["properties"]["labels"]
    assert labels["propertyNames"]["pattern"] == TEXT_PATTERN
    assert _values(labels)["maximum"] == 2**53 - 1
    assert schema["properties"]["name"]["pattern"] == TEXT_PATTERN  # no minLength: blank is allowed


def test_a_ruleset_pack_is_typed_and_its_free_params_are_json_values_the_edge_takes():
    components = _document("intake")["components"]["schemas"]
    install = _document("intake")["paths"]["/v1/rulesets"]["post"]
    assert install["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/PackSpec")
    params = components["RequirementSpec"]["properties"]["params"]
    assert params["propertyNames"]["pattern"] == TEXT_PATTERN
    assert _values(params) == {"$ref": "#/components/schemas/JsonValue"}
    text = components["JsonValue"]["anyOf"][0]
    assert text == {"type": "string", "pattern": TEXT_PATTERN}
    batch = _document("intake")["paths"]["/v1/referrals:batch"]["post"]["requestBody"]["content"]
    assert "ReferralSubmission" in json.dumps(batch)
