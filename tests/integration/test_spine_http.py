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


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_serves_the_suites_asyncapi_document_as_checked_in(start_service, service):
    import json

    from shared.messaging.asyncapi import DEFAULT_PATH

    api = start_service(service)
    response = api.get("/asyncapi.json")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    document = response.json()
    assert document == json.loads(DEFAULT_PATH.read_text())
    assert "org.diversion.resources.service_referral.requested" in json.dumps(document["components"]["messages"])


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


def test_another_agencys_object_answers_404_like_a_missing_one(start_service, agency):
    api = start_service("casework")
    created = api.post("/v1/staff", token=make_token(agency, ("supervisor",)),
                       json={"name": "Dana Case", "email": "dana@example.org", "programs": ["young-adult"]})
    assert created.status_code == 201, created.text
    staff_id = created.json()["id"]
    own = api.get(f"/v1/staff/{staff_id}", token=make_token(agency, ("case_manager",)))
    assert own.status_code == 200
    foreign = api.get(f"/v1/staff/{staff_id}", token=make_token("other-agency", ("supervisor",)))
    missing = api.get("/v1/staff/does-not-exist", token=make_token("other-agency", ("supervisor",)))
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json()["detail"] == missing.json()["detail"]


@pytest.mark.parametrize(
    ("payload", "content_type", "status", "field"),
    [
        (b'{"name": "Dana", "email": ', "application/json", 400, None),
        (b'{"name": 42, "email": "dana@example.org"}', "application/json", 422, "name"),
        (b'{"name": "Dana", "email": "not-an-email"}', "application/json", 422, "email"),
        (b'{"name": "Dana", "email": "d@example.org", "caseload_cap": "many"}', "application/json", 422,
         "caseload_cap"),
        (b'{"name": "Dana", "email": "d@example.org", "surprise": 1}', "application/json", 422, "surprise"),
        (b'[1, 2, 3]', "application/json", 422, "(body)"),
        (b"name=Dana", "application/x-www-form-urlencoded", 415, None),
    ],
)
def test_bad_bodies_are_4xx_problems_naming_the_field(start_service, agency, payload, content_type, status, field):
    api = start_service("casework")
    response = api.post("/v1/staff", token=make_token(agency, ("supervisor",)), data=payload,
                        headers={"Content-Type": content_type})
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status
    assert "Traceback" not in response.text
    if field:
        assert field in [error["field"] for error in problem["errors"]]


def test_a_2mb_body_is_413_not_500(start_service, agency):
    api = start_service("casework")
    body = b'{"name": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    response = api.post("/v1/staff", token=make_token(agency, ("supervisor",)), data=body,
                        headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.headers["Content-Type"] == "application/problem+json"


def test_duplicate_staff_email_is_409(start_service, agency):
    api = start_service("casework")
    token = make_token(agency, ("supervisor",))
    body = {"name": "Lee", "email": "lee@example.org"}
    assert api.post("/v1/staff", token=token, json=body).status_code == 201
    again = api.post("/v1/staff", token=token, json=body)
    assert again.status_code == 409
    assert again.json()["type"].endswith("/conflict")


def test_expired_and_forged_tokens_are_401(start_service):
    import jwt as pyjwt

    api = start_service("intake")
    forged = pyjwt.encode({"sub": "x", "agency": "stl-cao", "roles": ["screener"], "exp": 4102444800},
                          "not-the-secret", algorithm="HS256")
    expired = pyjwt.encode({"sub": "x", "agency": "stl-cao", "roles": ["screener"], "exp": 1000},
                           "test-secret-not-for-production-0123456789", algorithm="HS256")
    for token in (forged, expired, "garbage"):
        response = api.get("/v1/programs", token=token)
        assert response.status_code == 401, token
        assert response.headers["Content-Type"] == "application/problem+json"


def test_failed_authentication_and_denials_are_audited(start_service, agency):
    api = start_service("casework")
    api.get("/v1/staff", headers={"Authorization": "Bearer garbage", "X-Request-ID": "req-failed-auth-1"})
    api.get("/v1/staff", token=make_token(agency, ("screener",)))
    trail = api.get("/v1/audit", token=make_token(agency, ("auditor",)), params={"action": "permission.denied"})
    assert trail.status_code == 200, trail.text
    assert [row["outcome"] for row in trail.json()["items"]] == ["denied"]

    from sqlalchemy import select

    from shared.audit import _writer_table as audit_rows
    from shared.db import make_engine

    engine = make_engine(api.settings.database_url)
    with engine.connect() as connection:
        rows = connection.execute(
            select(audit_rows).where(audit_rows.c.request_id == "req-failed-auth-1")
        ).mappings().all()
    engine.dispose()
    assert len(rows) == 1
    assert rows[0]["action"] == "authentication.failed"
    assert rows[0]["outcome"] == "failure"
    assert rows[0]["actor"] == "anonymous"
    assert rows[0]["source_ip"] == "127.0.0.1"


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/healthz", {"GET", "HEAD"}),
        ("PUT", "/v1/referrals", {"GET", "HEAD", "POST"}),
        ("DELETE", "/v1/referrals/some-id", {"GET", "HEAD"}),
    ],
)
def test_wrong_method_is_405_problem_with_an_allow_header_naming_the_methods(start_service, method, path, allowed):
    api = start_service("intake")
    response = api.request(method, path, token=make_token())
    assert response.status_code == 405
    assert response.headers["Content-Type"] == "application/problem+json"
    assert {m.strip() for m in response.headers["Allow"].split(",")} == allowed
    assert response.json()["type"].endswith("/method-not-allowed")
    # what Allow promises works: HEAD answers like GET, without a body
    if "HEAD" in allowed:
        head = api.request("HEAD", path, token=make_token())
        assert head.status_code != 405
        assert head.content == b""
