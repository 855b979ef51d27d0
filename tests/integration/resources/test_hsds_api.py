# ruff: noqa: F811 - the `resources` fixture is imported from resources_support and requested by name
"""The HSDS 3.0 profile at /hsds/, called as an off-the-shelf HSDS client would call it.

Every operation of the official HSDS OpenAPI is called against the running resources service (on
PostgreSQL, with the seed directory and the official examples loaded) with each of its parameters,
and every answer is validated against the official OpenAPI by a third-party validator (openapi-core).
"""

from __future__ import annotations

import json
import math
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests
from jsonschema_path import SchemaPath
from openapi_core import Config, OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse
from resources_support import Harness, resources  # noqa: F401 - fixture

from services.resources.demo import load_demo
from services.resources.directory import HsdsJsonImporter
from services.resources.directory.export import document_schema
from services.resources.directory.hsds import BASE_URI, SCHEMA_DIR
from services.resources.hsds_api import official_openapi, profile_openapi
from services.resources.store import save_directory
from shared import migrations
from shared.db import make_engine, session_scope
from tests.conftest import Api, make_token

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "unit" / "resources"))
from test_hsds_examples_round_trip import structural_diff

EXAMPLES = SCHEMA_DIR.parent / "examples"
ORG = "d9d5e0f5-d3ce-4f73-9a2f-4dd0ecc6c610"
SERVICE = "ac148810-d857-441c-9679-408f346de14b"
SAL = "e94c9f38-1e8f-4564-91d4-d53501ab1765"
TERM = "3f7b145d-84af-42d7-8fae-eaca714b02b2"
TAXONOMY = "5c4d79d7-cc55-470e-9f1f-8cad074e4892"
LIST_PATHS = ("/services", "/organizations", "/service_at_locations", "/taxonomies", "/taxonomy_terms")


def _local_schema(uri: str) -> Any:
    # The official OpenAPI `$ref`s the canonical schema URLs; answer them from the copies we ship.
    assert uri.startswith(BASE_URI), uri
    return json.loads((SCHEMA_DIR / uri.removeprefix(BASE_URI)).read_text(encoding="utf-8"))


def official_validator(base_url: str) -> OpenAPI:
    """openapi-core for the official HSDS OpenAPI, its schema references answered from local copies."""
    local = {"https": _local_schema}
    spec = SchemaPath.from_dict(profile_openapi(base_url + "/"), handlers=local, ref_resolver_handlers=local)
    # openapi-core's own check of the document would fetch the `$ref`s online (and takes ~20 s here);
    # the document is Open Referral's, unchanged but for info, servers and the 3.0.x fix.
    return OpenAPI(spec, config=Config(spec_validator_cls=None))


def load_examples(harness: Harness) -> None:
    engine = make_engine(harness.database_url)
    with session_scope(engine) as session:
        for name, kind in (("organization_full.json", "organization"), ("service_full.json", "service"),
                           ("service_at_location_full.json", "service_at_location")):
            result = HsdsJsonImporter(kind).load(EXAMPLES / name)
            assert result.errors == []
            save_directory(session, result.directory)
    engine.dispose()


@pytest.fixture
def hsds(resources: Harness) -> tuple[Api, Harness]:
    load_examples(resources)
    return resources.start(casework=False), resources


# What each official parameter is set to when it is exercised.
PARAMETER_VALUES: dict[str, str] = {
    "search": "counselling", "page": "1", "per_page": "2", "format": "json", "taxonomy_term_id": TERM,
    "taxonomy_id": TAXONOMY, "organization_id": ORG, "modified_after": "2020-01-01T00:00:00Z", "minimal": "true",
    "full": "true", "full_service": "true", "postcode": "ABC 1234", "proximity": "5000", "top_only": "true",
    "parent_id": "0bc248fa-dc27-4650-9ba4-8f1a24ef16a2",
}
COMPANIONS = {"proximity": {"postcode": "ABC 1234"}}
PATH_IDS = {"/services/{id}": SERVICE, "/organizations/{id}": ORG, "/service_at_locations/{id}": SAL,
            "/taxonomies/{id}": TAXONOMY, "/taxonomy_terms/{id}": TERM}


def _parameters(operation: dict[str, Any], document: dict[str, Any]) -> list[str]:
    names = []
    for parameter in operation.get("parameters", []):
        if "$ref" in parameter:
            parameter = document["components"]["parameters"][parameter["$ref"].rsplit("/", 1)[1]]
        if parameter["in"] == "query":
            names.append(parameter["name"])
    return names


def _schema_extras(value: Any, schema: dict[str, Any], path: str = "$") -> list[str]:
    """Fields the HSDS schema does not define, and nulls: what a strict HSDS client would choke on."""
    out: list[str] = []
    if value is None:
        return [f"{path}: null"]
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for key, child in value.items():
            if key not in properties:
                out.append(f"{path}.{key}: not in the HSDS schema")
            else:
                out += _schema_extras(child, properties[key], f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out += _schema_extras(item, schema.get("items", {}), f"{path}[{i}]")
    return out


def test_every_official_operation_with_each_parameter_answers_valid_hsds(hsds):
    api, _ = hsds
    validator = official_validator(api.base_url)
    document = official_openapi()
    calls = 0
    for template, item in document["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            path = template.replace("{id}", PATH_IDS.get(template, ""))
            variants: list[dict[str, str]] = [{}]
            # Each parameter on its own (proximity is measured from a postcode, so it comes with one).
            variants += [{name: PARAMETER_VALUES[name], **COMPANIONS.get(name, {})}
                         for name in _parameters(operation, document)]
            for params in variants:
                response = api.session.get(f"{api.base_url}/hsds{path}", params=params, timeout=15)
                assert response.status_code == 200, (template, params, response.text[:300])
                assert response.headers["Access-Control-Allow-Origin"] == "*"
                request = RequestsOpenAPIRequest(response.request)
                validator.validate_request(request)
                validator.validate_response(request, RequestsOpenAPIResponse(response))
                calls += 1
    assert calls >= 50


LIST_SHAPES = [
    ("/services?per_page=100", "service", "list"), ("/services?per_page=100&full=true", "service", "full"),
    ("/organizations?per_page=100", "organization", "list"),
    ("/service_at_locations?per_page=100", "service_at_location", "list"),
    ("/service_at_locations?per_page=100&full=true", "service_at_location", "full"),
    ("/taxonomy_terms?per_page=100", "taxonomy_term", "full"), ("/taxonomies?per_page=100", "taxonomy", "full"),
]


def test_list_items_carry_only_hsds_fields_and_no_nulls(hsds):
    api, _ = hsds
    for path, kind, shape in LIST_SHAPES:
        page = api.get(f"/hsds{path}").json()
        assert page["contents"], path
        schema = document_schema(kind, shape)
        assert [extra for item in page["contents"] for extra in _schema_extras(item, schema)] == [], path


SERVED_EXAMPLES = [
    (f"/organizations/{ORG}?full_service=true", "organization_full.json", "organization"),
    (f"/services/{SERVICE}", "service_full.json", "service"),
    (f"/service_at_locations/{SAL}", "service_at_location_full.json", "service_at_location"),
]


def test_official_examples_come_back_from_the_database_field_for_field(hsds):
    api, _ = hsds
    for path, example, kind in SERVED_EXAMPLES:
        given = json.loads((EXAMPLES / example).read_text(encoding="utf-8"))

        served = api.get(f"/hsds{path}").json()

        diff = structural_diff(given, served)
        assert diff == [], f"{example} through the database and /hsds{path}:\n" + "\n".join(diff)
        assert _schema_extras(served, document_schema(kind)) == []


def test_paging_walks_the_whole_directory_once_with_consistent_totals(hsds):
    api, harness = hsds
    tables = {"/services": "service", "/organizations": "organization",
              "/service_at_locations": "service_at_location", "/taxonomies": "taxonomy",
              "/taxonomy_terms": "taxonomy_term"}
    for path, table in tables.items():
        stored = {row[0] for row in harness.sql(f"SELECT id FROM {table}")}
        seen: list[str] = []
        size = 3 if len(stored) > 6 else 1  # several pages, the last one short where the count allows
        first = api.get(f"/hsds{path}", params={"per_page": size}).json()
        assert first["total_items"] == len(stored) > 1
        assert first["total_pages"] == math.ceil(len(stored) / size)
        for number in range(1, first["total_pages"] + 1):
            page = api.get(f"/hsds{path}", params={"per_page": size, "page": number}).json()
            assert (page["total_items"], page["total_pages"], page["page_number"]) == (
                first["total_items"], first["total_pages"], number)
            assert page["size"] == len(page["contents"]) == (size if number < page["total_pages"] else
                                                             len(stored) - size * (number - 1))
            assert page["first_page"] is (number == 1) and page["last_page"] is (number == page["total_pages"])
            assert page["empty"] is False
            seen += [item["id"] for item in page["contents"]]
        assert sorted(seen) == sorted(stored), path
        beyond = api.get(f"/hsds{path}", params={"per_page": size, "page": first["total_pages"] + 1}).json()
        assert beyond["contents"] == [] and beyond["empty"] is True and beyond["last_page"] is True


def _places(harness: Harness) -> tuple[str, str, str, str]:
    """Three services at known points: downtown St. Louis, 2.9 km west of it, and Kansas City.

    Their postcodes are used by no other test, so a location another test stored (the directory tests
    store one at 800 N. Tucker Blvd., 63101) cannot move the centre a postcode search measures from,
    and the proximity searches are narrowed to this organization, so such a location is never counted
    as near, whatever the order the tests run in."""
    org = str(uuid.uuid4())
    links = []
    locations, services = [], []
    for name, lat, lon, postcode in (("Downtown", 38.6270, -90.1994, "63191"),
                                     ("Midtown", 38.6300, -90.2330, "63193"),
                                     ("Kansas City", 39.0997, -94.5786, "64196")):
        location, sal = str(uuid.uuid4()), str(uuid.uuid4())
        locations.append({"id": location, "location_type": "physical", "latitude": lat, "longitude": lon,
                          "addresses": [{"id": str(uuid.uuid4()), "address_1": "1 Test St", "city": name,
                                         "state_province": "MO", "postal_code": postcode, "country": "US",
                                         "address_type": "physical"}]})
        services.append({"id": str(uuid.uuid4()), "name": f"Zz proximity {name}", "status": "active",
                         "service_at_locations": [{"id": sal, "location_id": location}]})
        links.append(sal)
    document = {"id": org, "name": "Proximity test", "description": "", "locations": locations,
                "services": services}
    engine = make_engine(harness.database_url)
    with session_scope(engine) as session:
        result = HsdsJsonImporter().load_documents([document])
        assert result.errors == []
        save_directory(session, result.directory)
    engine.dispose()
    return org, links[0], links[1], links[2]


def test_filters_are_cumulative_and_narrow_as_hsds_says(hsds):
    api, harness = hsds

    def ids(path: str, **params: Any) -> list[str]:
        return [item["id"] for item in api.get(f"/hsds{path}", params={"per_page": 500, **params}).json()["contents"]]

    everything = ids("/services")
    assert ids("/services", taxonomy_term_id=TERM) == [SERVICE]
    assert ids("/services", taxonomy_id=TAXONOMY) == [SERVICE]
    assert ids("/services", organization_id=ORG) == [SERVICE]
    assert ids("/services", search="Counselling") == [SERVICE]
    assert ids("/services", search="counselling", organization_id="00000000-0000-4000-8000-000000000000") == []
    assert ids("/services", modified_after="2023-03-15T10:30:45Z") == [SERVICE]
    assert ids("/services", modified_after="2023-03-15T10:30:46Z") == []
    assert len(everything) > 10
    minimal = api.get("/hsds/services", params={"minimal": "true", "per_page": 500}).json()["contents"]
    assert {key for item in minimal for key in item} <= {"id", "name", "status", "last_modified"}
    assert len(minimal) == len(everything)
    assert ids("/service_at_locations", postcode="abc1234") == [SAL]
    assert ids("/service_at_locations", postcode="ABC 1234", proximity="1000") == [SAL]
    assert ids("/service_at_locations", postcode="ZZZ 9999", proximity="1000") == []
    org, downtown, midtown, kansas_city = _places(harness)
    assert ids("/service_at_locations", postcode="63191", proximity="1000", organization_id=org) == [downtown]
    assert sorted(ids("/service_at_locations", postcode="63191", proximity="5000",
                      organization_id=org)) == sorted([downtown, midtown])
    assert set(ids("/service_at_locations", postcode="63191", proximity="500000",
                   organization_id=org)) == {downtown, midtown, kansas_city}
    assert ids("/service_at_locations", postcode="64196") == [kansas_city]
    assert ids("/taxonomy_terms", taxonomy_id=TAXONOMY) == [TERM]
    assert TERM in ids("/taxonomy_terms", parent_id="0bc248fa-dc27-4650-9ba4-8f1a24ef16a2")
    assert TERM not in ids("/taxonomy_terms", top_only="true")
    assert ids("/organizations", search="Example Organization") == [ORG]


def test_ndjson_streams_every_result_unpaginated(hsds):
    api, _ = hsds
    paged = api.get("/hsds/services", params={"per_page": 2}).json()

    response = api.get("/hsds/services", params={"format": "ndjson", "per_page": 2})

    assert response.status_code == 200 and response.headers["Content-Type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert len(lines) == paged["total_items"] > 2


BAD_PARAMETERS = [
    "/services?page=0", "/services?per_page=zero", "/services?modified_after=yesterday", "/services?minimal=perhaps",
    "/services?format=xml", "/service_at_locations?proximity=1000", "/service_at_locations?proximity=-5&postcode=x",
    "/organizations?page=99999999999", "/taxonomy_terms?top_only=maybe", "/services?search=%00",
    "/service_at_locations?postcode=%00", "/taxonomy_terms?parent_id=a%00", "/services?per_page=1001",
]
UNKNOWN_IDS = ["/services/nope", "/organizations/00000000-0000-4000-8000-000000000000", "/service_at_locations/x",
               "/taxonomies/x", "/taxonomy_terms/" + ORG]
# Control characters in a path segment are refused at the HTTP edge (422 naming the field) before any lookup.
CONTROL_IDS = ["/services/%00", "/organizations/a%01b"]


def test_bad_parameters_are_problems_never_500_and_unknown_ids_are_404(hsds):
    api, _ = hsds
    for path in BAD_PARAMETERS + UNKNOWN_IDS + CONTROL_IDS:
        response = api.get(f"/hsds{path}")
        assert 400 <= response.status_code < 500, (path, response.text)
        assert response.headers["Content-Type"].startswith("application/problem+json"), path
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert response.json()["status"] == response.status_code
        if path in UNKNOWN_IDS:
            assert response.status_code == 404, path
        if path in CONTROL_IDS:
            assert response.status_code == 422, path


def test_root_names_version_profile_and_the_openapi_it_serves(hsds):
    api, _ = hsds
    root = api.get("/hsds/").json()
    assert root["version"] == "3.0" and root["profile"].startswith("https://")
    assert root["openapi_url"] == f"{api.base_url}/hsds/openapi.json"
    served = requests.get(root["openapi_url"], timeout=10).json()
    assert served["paths"].keys() == official_openapi()["paths"].keys()
    assert served["servers"] == [{"url": f"{api.base_url}/hsds"}]
    assert api.get("/hsds").json() == root


def test_cors_preflight_is_answered_for_browsers(hsds):
    api, _ = hsds
    response = api.session.options(f"{api.base_url}/hsds/services", timeout=10, headers={
        "Origin": "https://partner.example", "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization"})
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "GET" in response.headers["Access-Control-Allow-Methods"]
    assert "authorization" in response.headers["Access-Control-Allow-Headers"].lower()


def test_the_feed_is_open_without_a_token_and_the_staff_api_is_not(hsds):
    api, _ = hsds
    assert api.get("/hsds/services").status_code == 200
    assert api.get("/v1/services").status_code == 401


def test_an_agency_can_close_the_feed_to_callers_without_a_token(resources):
    api = resources.start(casework=False, DIVERSION_RESOURCES_HSDS_PUBLIC="false")

    refused = api.get("/hsds/services")
    allowed = api.get("/hsds/services", token=make_token(roles=("case_manager",)))

    assert refused.status_code == 401 and refused.headers["Content-Type"].startswith("application/problem+json")
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert refused.headers["Access-Control-Allow-Origin"] == "*"
    assert allowed.status_code == 200


def test_a_client_past_the_rate_limit_is_told_when_to_come_back(resources):
    api = resources.start(casework=False, DIVERSION_RESOURCES_HSDS_RATE_LIMIT_PER_MINUTE="3")

    answers = [api.get("/hsds/taxonomies") for _ in range(4)]

    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    limited = answers[-1]
    assert limited.headers["Content-Type"].startswith("application/problem+json")
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert limited.headers["Access-Control-Allow-Origin"] == "*"
    assert api.get("/v1/services").status_code == 401  # the staff API is not counted against the feed


@pytest.mark.sqlite
def test_the_profile_answers_on_the_embedded_sqlite_default(resources, tmp_path):
    url = f"sqlite:///{tmp_path / 'resources.db'}"
    migrations.upgrade("resources", url)
    engine = make_engine(url)
    with session_scope(engine) as session:
        load_demo(session)
        result = HsdsJsonImporter().load(EXAMPLES / "organization_full.json")
        save_directory(session, result.directory)
    engine.dispose()
    api = resources.start(casework=False, database_url=url)
    validator = official_validator(api.base_url)

    for path, params in (("/services", {"search": "counselling", "taxonomy_id": TAXONOMY}),
                         ("/service_at_locations", {"postcode": "abc 1234", "proximity": "100"}),
                         (f"/organizations/{ORG}", {"full_service": "true"}), ("/taxonomy_terms", {})):
        response = api.session.get(f"{api.base_url}/hsds{path}", params=params, timeout=15)
        assert response.status_code == 200, response.text
        request = RequestsOpenAPIRequest(response.request)
        validator.validate_response(request, RequestsOpenAPIResponse(response))
    served = api.get(f"/hsds/organizations/{ORG}", params={"full_service": "true"}).json()
    given = json.loads((EXAMPLES / "organization_full.json").read_text(encoding="utf-8"))
    assert structural_diff(given, served) == []
