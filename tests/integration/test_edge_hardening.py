"""Bad input is a 4xx problem, always: each class of input that once reached a 500 (or the server's own
plain answer) against the services running on PostgreSQL, plus hypothesis strategies for cursors,
tokens and nested bodies (issue 15, items 1-3)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import JWT_SECRET, make_token
from tests.integration.intake.intake_api_support import install_pack, referral_body

PROBLEM = "application/problem+json"
ALL_ROLES = ("screener", "case_manager", "supervisor", "partner", "admin", "auditor")
# One POST with a JSON body per service.
POSTS = {"intake": "/v1/referrals", "casework": "/v1/staff", "resources": "/v1/service-referrals",
         "notifications": "/v1/subscriptions"}


def is_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text[:500]
    assert response.headers["Content-Type"].startswith(PROBLEM), response.headers
    document: dict[str, Any] = response.json()
    assert document["status"] == status
    return document


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def signed(claims: dict[str, Any]) -> str:
    """A correctly signed HS256 token with these claims, whatever their types (PyJWT refuses to sign some)."""
    now = int(time.time())
    payload = {"sub": "someone", "agency": "stl-cao", "roles": ["auditor"], "exp": now + 600, "iat": now, **claims}
    signing_input = _b64(b'{"alg":"HS256","typ":"JWT"}') + "." + _b64(json.dumps(payload).encode())
    signature = hmac.new(JWT_SECRET.encode(), signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + _b64(signature)


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.fixture
def intake(start_service: Any) -> Any:
    return start_service("intake")


@pytest.fixture
def start_service_once(intake: Any) -> tuple[Any, str]:
    """One intake for all of a hypothesis test's examples (the examples only read)."""
    return intake, make_token("stl-cao", ("auditor",))


# -- bounded JSON -------------------------------------------------------------------------------------

@pytest.mark.parametrize("service", sorted(POSTS))
def test_a_deeply_nested_body_is_a_400_problem_on_every_service(start_service, service):
    api = start_service(service)
    token = make_token("stl-cao", ALL_ROLES, org="org-1")
    for body in (nested(100_000), b'{"a":' * 5000 + b"1" + b"}" * 5000, nested(40)):
        response = api.post(POSTS[service], token=token, data=body, headers={"Content-Type": "application/json"})
        assert "nests deeper" in is_problem(response, 400)["detail"]


def test_numbers_json_cannot_hold_exactly_are_refused(intake, agency):
    token = make_token(agency, ("screener",))
    body = referral_body()
    body["history"]["pending_cases"] = 10**30
    is_problem(intake.post("/v1/referrals", token=token, json=body), 422)
    raw = json.dumps(referral_body()).replace('"pending_cases": 0', '"pending_cases": NaN')
    is_problem(intake.post("/v1/referrals", token=token, data=raw, headers={"Content-Type": "application/json"}),
               400)


# -- text that is not text ----------------------------------------------------------------------------

@pytest.mark.parametrize("bad", ["\x00", "\x1b[2J", "\x7f", "\ud800"])
def test_control_characters_in_a_body_are_a_422_naming_the_field_on_postgresql(intake, agency, bad):
    token = make_token(agency, ("screener",))
    body = referral_body(first_name=f"Da{bad}na")
    data = json.dumps(body)  # escapes \ud800 as JSON allows, so it reaches the server as a lone surrogate
    response = intake.post("/v1/referrals", token=token, data=data, headers={"Content-Type": "application/json"})
    problem = is_problem(response, 422)
    assert [error["field"] for error in problem["errors"]] == ["defendant.first_name"]
    assert intake.get("/v1/referrals", token=token).json()["items"] == []


def test_nul_in_a_query_parameter_or_a_path_segment_is_a_422_naming_it(intake, agency):
    token = make_token(agency, ("screener",))
    query = is_problem(intake.get("/v1/referrals?status=new%00", token=token), 422)
    assert [error["field"] for error in query["errors"]] == ["status"]
    path = is_problem(intake.get("/v1/referrals/abc%00def", token=token), 422)
    assert [error["field"] for error in path["errors"]] == ["referral_id"]


# -- cursors --------------------------------------------------------------------------------------------

def _old_style(values: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


CRAFTED = [
    _old_style({"id": "not-a-number"}), _old_style({"id": 10**30}), _old_style({"at": "None", "id": "x"}),
    _old_style({"o": 10**30}), _old_style({"c": "None", "i": 1}), "x" * 600, "....", "a.b", "%%%",
]


@pytest.mark.parametrize("path", ["/v1/audit", "/v1/referrals"])
@pytest.mark.parametrize("cursor", CRAFTED)
def test_a_crafted_cursor_is_a_400_invalid_cursor(intake, agency, path, cursor):
    token = make_token(agency, ("screener", "auditor"))
    problem = is_problem(intake.get(path, token=token, params={"cursor": cursor}), 400)
    assert problem["type"].endswith("/invalid-cursor")


def test_a_cursor_pages_on_and_a_tampered_or_transplanted_one_is_refused(intake, agency):
    install_pack(intake, agency)
    token = make_token(agency, ("screener", "auditor"))
    ids = [intake.post("/v1/referrals", token=token, json=referral_body()).json()["id"] for _ in range(3)]
    first = intake.get("/v1/referrals", token=token, params={"limit": 2}).json()
    second = intake.get("/v1/referrals", token=token, params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert sorted(item["id"] for item in first["items"] + second["items"]) == sorted(ids)
    assert second["next_cursor"] is None
    cursor = first["next_cursor"]
    payload, _, signature = cursor.partition(".")
    document = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    document["k"][1] = "zzzz"  # move the page on by hand: the signature no longer fits
    forged = base64.urlsafe_b64encode(json.dumps(document).encode()).decode().rstrip("=") + "." + signature
    other_agency = make_token("another-agency", ("screener",))
    for response in (
        intake.get("/v1/referrals", token=token, params={"cursor": forged}),
        intake.get("/v1/referrals", token=other_agency, params={"cursor": cursor}),  # another agency's
        intake.get("/v1/referrals", token=token, params={"cursor": cursor, "status": "screened"}),  # other filters
        intake.get("/v1/audit", token=token, params={"cursor": cursor}),  # another list
    ):
        assert is_problem(response, 400)["type"].endswith("/invalid-cursor")


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(cursor=st.one_of(
    st.text(max_size=80),
    st.builds(lambda d: _old_style(d), st.dictionaries(st.sampled_from(["id", "at", "o", "k", "v", "t", "r"]),
                                                        st.one_of(st.integers(), st.text(max_size=10),
                                                                  st.none()), max_size=4)),
    st.builds(lambda a, b: f"{a}.{b}", st.text("abcXYZ019-_", max_size=40), st.text("abcXYZ019-_", max_size=30)),
))
def test_no_cursor_makes_a_server_error(start_service_once, cursor):
    api, token = start_service_once
    response = api.get("/v1/audit", token=token, params={"cursor": cursor})
    assert response.status_code in (200, 400, 422), response.text[:300]
    assert response.status_code == 200 or response.headers["Content-Type"].startswith(PROBLEM)
    if response.status_code == 200:
        assert not cursor  # only no cursor at all is the first page


# -- tokens ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("claims", [
    {"roles": 5}, {"roles": [1, 2]}, {"roles": {"a": 1}}, {"sub": 12}, {"sub": ["x"]}, {"agency": 7},
    {"agency": None}, {"org": 3}, {"sub": "a\x00b"}, {"roles": ["auditor", None]}, {"exp": "tomorrow"},
])
def test_a_signed_token_with_a_claim_of_the_wrong_type_is_a_401(intake, claims):
    problem = is_problem(intake.get("/v1/audit", token=signed(claims)), 401)
    assert problem["type"].endswith("/unauthenticated")


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(claims=st.dictionaries(
    st.sampled_from(["sub", "agency", "roles", "org", "iss", "aud", "nbf", "iat"]),
    st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                 lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                 max_leaves=6),
    max_size=5))
def test_no_signed_token_makes_a_server_error(start_service_once, claims):
    api, _ = start_service_once
    response = api.get("/v1/audit", token=signed(claims))
    assert response.status_code in (200, 401, 403), response.text[:300]


def test_a_20_kb_token_is_a_431_problem_from_the_server_itself(intake):
    response = intake.get("/v1/audit", token="a" * 20_000)
    problem = is_problem(response, 431)
    assert problem["type"].endswith("/headers-too-large")


def test_a_token_just_under_the_header_limit_is_a_401(intake):
    is_problem(intake.get("/v1/audit", token="a" * 8100), 401)


# -- chunked bodies -------------------------------------------------------------------------------------

def _raw(api: Any, request: bytes) -> tuple[int, dict[str, str], bytes]:
    host, port = api.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=15) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def _chunked(api: Any, token: str, body: bytes, chunk: int = 300) -> tuple[int, dict[str, str], bytes]:
    encoded = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + chunk]), body[i:i + chunk])
                       for i in range(0, len(body), chunk)) + b"0\r\n\r\n"
    return _raw(api, b"POST /v1/referrals HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                     b"Authorization: Bearer " + token.encode() + b"\r\nContent-Type: application/json\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n" + encoded)


def test_a_chunked_body_is_read_whole(intake, agency):
    install_pack(intake, agency)
    token = make_token(agency, ("screener",))
    status, _, body = _chunked(intake, token, json.dumps(referral_body(last_name="Chunked")).encode())
    assert status == 201, body
    listed = intake.get("/v1/referrals", token=token).json()["items"]
    assert [item["defendant"]["last_name"] for item in listed] == ["Chunked"]


def test_a_chunked_body_beyond_the_limit_is_a_413_problem(intake, agency):
    token = make_token(agency, ("screener",))
    status, headers, body = _chunked(intake, token, b'{"x": "' + b"a" * 1_100_000 + b'"}', chunk=65536)
    assert status == 413 and headers["content-type"].startswith(PROBLEM), body


def test_bad_framing_is_a_400_problem_not_the_servers_page(intake):
    status, headers, body = _raw(intake, b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n")
    assert status == 400 and headers["content-type"].startswith(PROBLEM), body
    status, headers, body = _raw(intake, b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                                         b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    assert status == 400 and headers["content-type"].startswith(PROBLEM), body


# -- nested bodies (hypothesis) -------------------------------------------------------------------------

@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(depth=st.integers(min_value=1, max_value=3000), opener=st.sampled_from(["[", '{"a":']),
       leaf=st.sampled_from(["1", '"\\u0000"', "null", '"x"']))
def test_no_nested_body_makes_a_server_error(start_service_once, depth, opener, leaf):
    api, _ = start_service_once
    closer = "]" if opener == "[" else "}"
    body = opener * depth + leaf + closer * depth
    response = api.post("/v1/referrals", token=make_token("stl-cao", ("screener",)), data=body,
                        headers={"Content-Type": "application/json"})
    assert 400 <= response.status_code < 500 and response.headers["Content-Type"].startswith(PROBLEM)


# -- idempotency bound to the caller --------------------------------------------------------------------

def test_another_caller_with_the_same_idempotency_key_gets_422_and_never_the_stored_body(intake, agency):
    install_pack(intake, agency)
    body = referral_body()
    mine = make_token(agency, ("screener",), sub="screener-a")
    created = intake.post("/v1/referrals", token=mine, json=body, headers={"Idempotency-Key": "k-1"})
    assert created.status_code == 201
    theirs = make_token(agency, ("screener",), sub="screener-b")
    again = intake.post("/v1/referrals", token=theirs, json=body, headers={"Idempotency-Key": "k-1"})
    problem = is_problem(again, 422)
    assert problem["type"].endswith("/idempotency-key-reused")
    assert created.json()["id"] not in again.text and "Brooks" not in again.text
    replay = intake.post("/v1/referrals", token=mine, json=body, headers={"Idempotency-Key": "k-1"})
    assert replay.status_code == 201 and replay.json()["id"] == created.json()["id"]


# -- the guard ------------------------------------------------------------------------------------------

def test_an_unexpected_error_is_a_500_problem_that_is_audited(intake, agency, monkeypatch):
    from services.intake.usecases import referrals as handlers

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a defect")

    monkeypatch.setattr(handlers, "list_referrals", broken)  # stands in for a defect: the guard's input
    token = make_token(agency, ("screener", "auditor"))
    problem = is_problem(intake.get("/v1/referrals", token=token), 500)
    assert problem["type"].endswith("/internal-error") and "a defect" not in json.dumps(problem)
    monkeypatch.undo()
    audit = intake.get("/v1/audit", token=token, params={"action": "request.failed"}).json()["items"]
    assert [(row["outcome"], row["request_id"]) for row in audit] == [("failure", problem["request_id"])]
