"""Every read of a person's data is audited (CJIS AU-2/AU-3), judged from the OpenAPI documents themselves.

The four checked-in documents (docs/openapi/*.json, generated from the code) mark each operation that
returns person-level data with `x-person-data: true` (the `person_data=True` flag of `@api`). The walk
below calls every such operation of all four services, on one tenant whose person has a record in each,
and fails when a call leaves no audit row naming who, what, when, where and the outcome, or a list call's
row lacks the ids it returned. A second check keeps the flag honest: a GET whose response schema carries
a person's fields must be flagged.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import Engine

from services.resources.demo import load_demo
from shared.audit import _writer_table as audit_rows
from shared.db import make_engine, session_scope
from tests.conftest import Api, make_token
from tests.integration.intake.intake_api_support import install_pack, referral_body
from tests.support.waiting import wait_for

SERVICES = ("intake", "casework", "resources", "notifications")
DOCS = Path(__file__).resolve().parents[2] / "docs" / "openapi"
WALKER = "audit-walker"
WALKER_ROLES = ("screener", "case_manager", "supervisor", "admin", "auditor")
# Field names that make a response person-level data (a participant's or defendant's record, or one keyed to it).
PERSON_FIELDS = {"participant_id", "participant", "defendant", "date_of_birth", "participant_name", "case_id"}


def documents() -> dict[str, dict[str, Any]]:
    return {service: json.loads((DOCS / f"{service}.json").read_text()) for service in SERVICES}


def person_operations() -> list[tuple[str, str, str, dict[str, Any]]]:
    found = []
    for service, document in documents().items():
        for path, operations in document["paths"].items():
            for method, operation in operations.items():
                if operation.get("x-person-data"):
                    found.append((service, method.upper(), path, operation))
    return found


def _schema_fields(schema: Any, components: dict[str, Any], seen: set[str]) -> set[str]:
    """Every property name reachable from a schema (refs followed once)."""
    names: set[str] = set()
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str):
            model = ref.rsplit("/", 1)[1]
            if model in seen:
                return names
            seen.add(model)
            return _schema_fields(components.get(model, {}), components, seen)
        for name, sub in (schema.get("properties") or {}).items():
            names.add(name)
            names |= _schema_fields(sub, components, seen)
        for key in ("items", "additionalProperties"):
            names |= _schema_fields(schema.get(key), components, seen)
        for key in ("anyOf", "oneOf", "allOf"):
            for sub in schema.get(key) or []:
                names |= _schema_fields(sub, components, seen)
    return names


def test_every_get_whose_answer_carries_a_persons_fields_is_declared_person_data():
    undeclared = []
    for service, document in documents().items():
        components = document["components"]["schemas"]
        for path, operations in document["paths"].items():
            operation = operations.get("get")
            if operation is None or operation.get("x-person-data") or path == "/v1/audit":
                continue
            for status, response in operation["responses"].items():
                if not status.startswith("2"):
                    continue
                for content in (response.get("content") or {}).values():
                    if PERSON_FIELDS & _schema_fields(content.get("schema"), components, set()):
                        undeclared.append(f"{service} GET {path}")
    assert undeclared == [], "person data without person_data=True (its reads would go unaudited)"
    assert len(person_operations()) >= 25, "the documents declare the person-data operations"


# ---------------------------------------------------------------- the suite, one tenant with a person in it


class Tenant:
    def __init__(self, apis: dict[str, Api], engines: dict[str, Engine], slug: str) -> None:
        self.apis, self.engines, self.slug = apis, engines, slug
        self.walker = make_token(slug, WALKER_ROLES, sub=WALKER)
        self.ids: dict[tuple[str, str], str] = {}

    def call(self, service: str, method: str, path: str, expect: int, token: str | None = None,
             **kwargs: Any) -> Any:
        response = self.apis[service].request(method, path, token or self.walker, **kwargs)
        assert response.status_code == expect, f"{service} {method} {path}: {response.status_code} {response.text}"
        return response

    def audit_row(self, service: str, request_id: str) -> list[dict[str, Any]]:
        with self.engines[service].connect() as connection:
            return [dict(row) for row in connection.execute(
                select(audit_rows).where(audit_rows.c.request_id == request_id)).mappings()]


def _open_everything(t: Tenant) -> None:
    """A referral accepted in intake, its case with a record of every kind in casework, a consented service
    referral in resources, and deliveries and reminders in notifications."""
    install_pack(t.apis["intake"], t.slug)
    screener = make_token(t.slug, ("screener",), sub="screener-1")
    referral = t.call("intake", "POST", "/v1/referrals", 201, screener, json=referral_body())
    t.ids["intake", "referrals"] = referral.json()["id"]
    t.call("intake", "POST", f"/v1/referrals/{referral.json()['id']}/decision", 200, screener,
           json={"action": "accept", "program": "young-adult"}, headers={"If-Match": referral.headers["ETag"]})
    t.call("casework", "POST", "/v1/staff", 201, json={
        "name": "Walker", "email": "walker@example.org", "role": "case_manager", "programs": ["young-adult"],
        "caseload_cap": 25, "subject": WALKER})

    def opened() -> Any:
        items = t.call("casework", "GET", "/v1/cases", 200).json()["items"]
        return next((c for c in items if c["referral_id"] == referral.json()["id"]), None)

    case = wait_for(opened, 30, "the case opened from referral.accepted")
    case_id, person = case["id"], case["participant_id"]
    t.ids["casework", "cases"], t.ids["casework", "participants"] = case_id, person
    t.ids["notifications", "contact-preferences"] = case_id
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(days=3)
    t.call("casework", "POST", f"/v1/cases/{case_id}/assessments", 201,
           json={"domains": [{"domain": "housing", "level": "high"}]})
    condition = t.call("casework", "POST", f"/v1/cases/{case_id}/conditions", 201,
                       json={"kind": "general", "description": "keep every appointment"})
    t.ids["casework", "conditions"] = condition.json()["id"]
    t.call("casework", "POST", f"/v1/cases/{case_id}/contacts", 201, json={"scheduled_for": soon.isoformat()})
    t.call("casework", "POST", f"/v1/cases/{case_id}/incidents", 201, json={
        "kind": "missed_checkin", "occurred_on": dt.date.today().isoformat(), "description": "missed one"})
    appointment = t.call("casework", "POST", f"/v1/cases/{case_id}/appointments", 201, json={
        "starts_at": soon.isoformat(), "kind": "check-in", "with_whom": "case manager"})
    t.ids["notifications", "appointments"] = appointment.json()["id"]
    t.ids["casework", "appointments"] = appointment.json()["id"]
    plan = t.call("casework", "GET", f"/v1/cases/{case_id}/plan", 200)
    t.call("casework", "POST", f"/v1/cases/{case_id}/plan/changes", 200, headers={"If-Match": plan.headers["ETag"]},
           json={"op": "add_goal", "domain": "housing", "description": "stable housing"})

    org = t.call("resources", "GET", "/v1/organizations", 200, params={"search": "St. Patrick"}).json()["items"][0]
    service = t.call("resources", "GET", "/v1/services", 200,
                     params={"need": "housing", "organization_id": org["id"]}).json()["items"][0]
    today = dt.date.today()
    consent = t.call("casework", "POST", f"/v1/participants/{person}/consents", 201, json={
        "discloser": "Diversion Unit", "categories": ["contact_info", "needs_assessment"],
        "recipient_org_id": org["id"],
        "recipient_name": org["name"], "purposes": ["service_referral"], "right_to_revoke_acknowledged": True,
        "revocation_instructions": "tell your case manager", "expires_on": (today + dt.timedelta(days=90)).isoformat(),
        "signature": {"signed_by": "Dana Brooks", "method": "electronic", "signed_on": today.isoformat()}})
    t.ids["casework", "consents"] = consent.json()["id"]
    partner = make_token(t.slug, ("partner",), org=org["id"], sub="partner-1")
    t.call("notifications", "POST", "/v1/subscriptions", 201, partner,
           json={"url": "http://127.0.0.1:9/hook", "event_types": ["service_referral.requested"]})
    def known_to_resources() -> Any:
        with t.engines["resources"].connect() as connection:
            return connection.execute(text("SELECT 1 FROM caseload_entry WHERE case_id = :c AND participant_id = :p"),
                                      {"c": case_id, "p": person}).first()

    wait_for(known_to_resources, 30, "resources knows the case from case.opened (ADR 0071)")
    created = t.call("resources", "POST", "/v1/service-referrals", 201, json={
        "case_id": case_id, "participant_id": person, "participant_name": "Dana Brooks",
        "contact": {"phone": "+13145550134"}, "need": "stable housing", "need_category": "housing",
        "service_id": service["id"], "consent": {"categories": ["contact_info"], "purpose": "service_referral"}})
    t.ids["resources", "service-referrals"] = created.json()["id"]
    wait_for(lambda: t.apis["notifications"].get(f"/v1/contact-preferences/{case_id}", t.walker).status_code == 200,
             30, "the participant's contact preferences, from case.opened")

    def delivered() -> Any:
        return t.call("notifications", "GET", "/v1/deliveries", 200).json()["items"]

    t.ids["notifications", "deliveries"] = wait_for(delivered, 30, "the partner's delivery")[0]["id"]
    wait_for(lambda: t.apis["notifications"].get(f"/v1/appointments/{appointment.json()['id']}/reminders",
                                                 t.walker).status_code == 200, 30, "the appointment's reminders")
    # a sealing ledger entry: a second referral erased on a records officer's legal order
    spare = t.call("intake", "POST", "/v1/referrals", 201, screener, json=referral_body())
    officer = make_token(t.slug, ("records_officer",), sub="records-officer-1")
    erased = t.call("intake", "POST", f"/v1/referrals/{spare.json()['id']}/erasure", 202, officer, json={},
                    headers={"X-Legal-Basis": "court-order"})
    t.ids["intake", "sealing-ledger"] = erased.json()["request_id"]


@pytest.fixture
def tenant(start_service: Callable[..., Api], pg_databases: dict[str, str], agency: str) -> Iterator[Tenant]:
    engine = make_engine(pg_databases["resources"])
    with session_scope(engine) as session:
        load_demo(session)
    engine.dispose()
    apis = {service: start_service(service, DIVERSION_NOTIFICATIONS_WEBHOOK_ALLOW_LIST="127.0.0.1")
            for service in SERVICES}
    engines = {service: make_engine(pg_databases[service]) for service in SERVICES}
    t = Tenant(apis, engines, agency)
    _open_everything(t)
    yield t
    for engine in engines.values():
        engine.dispose()


def _concrete(t: Tenant, service: str, path: str) -> str:
    """The template with the tenant's ids: a parameter is the id of what the segment before it names."""
    segments = path.strip("/").split("/")
    out = []
    for index, segment in enumerate(segments):
        if segment.startswith("{"):
            if segment == "{version}":
                out.append("1")
                continue
            key = (service, segments[index - 1])
            assert key in t.ids, f"the walk has no {segments[index - 1]} id for {service} {path}: add one"
            out.append(t.ids[key])
        else:
            out.append(segment)
    return "/" + "/".join(out)


def _returned_ids(body: Any) -> set[str]:
    items = body["items"] if isinstance(body, dict) and "items" in body else body
    if not isinstance(items, list):
        return set()
    return {str(item["id"]) for item in items if isinstance(item, dict) and "id" in item}


def _values(detail: Any) -> set[str]:
    if isinstance(detail, dict):
        return set().union(*(_values(v) for v in detail.values())) if detail else set()
    if isinstance(detail, list):
        return {str(v) for v in detail}
    return {str(detail)}


def test_every_person_data_endpoint_of_every_service_writes_an_audit_row(tenant: Tenant):
    operations = person_operations()
    assert {service for service, *_ in operations} == set(SERVICES)
    unaudited = []
    for service, method, path, _operation in operations:
        request_id = f"walk-{uuid.uuid4().hex}"
        concrete = _concrete(tenant, service, path)
        response = tenant.call(service, method, concrete, 200, headers={"X-Request-ID": request_id})
        rows = [r for r in tenant.audit_row(service, request_id) if r["outcome"] == "success"]
        if not rows:
            unaudited.append(f"{service} {method} {path}")
            continue
        row = rows[0]
        assert (row["agency_id"], row["actor"], row["service"]) == (tenant.slug, WALKER, service)  # who, source
        assert row["occurred_at"] is not None and row["source_ip"] == "127.0.0.1"  # when, where
        assert row["action"] and row["resource_type"]  # what
        # A streamed export (NDJSON, CSV) names its filters, not each row: its ids are checked by its own test.
        is_json = response.headers.get("Content-Type", "").startswith("application/json")
        missing = (_returned_ids(response.json()) if is_json else set()) - _values(row["detail"])
        if missing:
            unaudited.append(f"{service} {method} {path}: the row lacks returned ids {sorted(missing)}")
    assert unaudited == [], "person data read without an audit row naming what it returned"


def test_a_failed_read_of_a_person_is_audited_as_a_failure(tenant: Tenant):
    request_id = f"walk-{uuid.uuid4().hex}"
    tenant.call("casework", "GET", f"/v1/cases/{uuid.uuid4()}", 404, headers={"X-Request-ID": request_id})
    [row] = tenant.audit_row("casework", request_id)
    assert (row["action"], row["outcome"], row["actor"], row["detail"]["status"]) == (
        "person_data.read", "failure", WALKER, 404)


# ---------------------------------------------------------------- failed logins


def _forged(agency: str | None, sub: str) -> str:
    claims: dict[str, Any] = {"sub": sub, "roles": ["supervisor"], "exp": 4_102_444_800}
    if agency is not None:
        claims["agency"] = agency
    return jwt.encode(claims, "not-the-deployments-secret-0123456789abcdef", algorithm="HS256")


def _audit(api: Api, token: str, **params: str) -> Any:
    response = api.get("/v1/audit", token, params={"action": "authentication.failed", **params})
    assert response.status_code == 200, response.text
    return response.json()["items"]


@pytest.mark.parametrize("service", ["intake", "notifications"])
def test_a_failed_login_is_listed_for_the_claimed_agencys_auditor_and_a_login_naming_none_for_the_platform(
        start_service: Callable[..., Api], agency: str, service: str):
    api = start_service(service)
    claimed = api.get("/v1/referrals" if service == "intake" else "/v1/deliveries", _forged(agency, "mallory"),
                      headers={"X-Request-ID": f"forged-{agency}"})
    nameless = api.get("/v1/audit", _forged(None, "nobody"), headers={"X-Request-ID": f"nameless-{agency}"})
    assert claimed.status_code == nameless.status_code == 401

    mine = _audit(api, make_token(agency, ("auditor",), sub="aud-1"))
    [row] = [r for r in mine if r["request_id"] == f"forged-{agency}"]
    assert (row["agency_id"], row["actor"], row["outcome"]) == (agency, "unverified:mallory", "failure")
    assert row["detail"]["claims_verified"] is False and row["detail"]["claimed_agency"] == agency
    assert all(r["request_id"] != f"nameless-{agency}" for r in mine)  # not the claimed agency's: it named none

    deployment_admin = make_token("platform", ("admin",), sub="operator-1")
    platform = _audit(api, deployment_admin, limit="200")
    [row] = [r for r in platform if r["request_id"] == f"nameless-{agency}"]
    assert (row["agency_id"], row["actor"]) == (None, "unverified:nobody")
    assert all(r["agency_id"] in (None, "platform") for r in platform)  # no agency's own rows
    # An agency's admin is not the deployment's admin.
    assert api.get("/v1/audit", make_token(agency, ("admin",))).status_code == 403
