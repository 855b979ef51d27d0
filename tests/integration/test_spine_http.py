"""The spine as a client sees it: health, readiness, OpenAPI, metrics, authentication and problems."""

from __future__ import annotations

import pytest

from tests.conftest import make_token

SERVICES = ("intake", "casework", "resources", "notifications")


@pytest.mark.parametrize("service", SERVICES)
def test_service_answers_health_readiness_metrics_and_openapi(start_service, service):
    api = start_service(service)
    assert api.get("/healthz").status_code == 200
    ready = api.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "broker": "ok", "migrations": "at head"}
    metrics = api.get("/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["Content-Type"].startswith("text/plain")
    assert f"diversion_{service}_http_requests_total" in metrics.text
    document = api.get("/openapi.json").json()
    from openapi_spec_validator import validate

    validate(document)
    assert document["openapi"] == "3.1.0"


def test_no_token_is_401_problem(start_service):
    api = start_service("intake")
    response = api.get("/v1/programs")
    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["status"] == 401
    assert "WWW-Authenticate" in response.headers


def test_wrong_role_is_403(start_service):
    api = start_service("intake")
    response = api.get("/v1/programs", token=make_token(roles=("partner",), org="org-1"))
    assert response.status_code == 403
    assert response.json()["type"].endswith("/forbidden")


def test_unknown_route_is_404_problem(start_service):
    api = start_service("intake")
    response = api.get("/v1/nothing-here", token=make_token())
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/problem+json"
