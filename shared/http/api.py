"""The `@api` entrypoint: nameko's HTTP entrypoint with authentication, pydantic bodies and problem+json.

Everything HTTP-shaped happens here, before a worker starts: body size, JSON parsing, validation,
the bearer token and the role check. The service method receives a `Call` with typed values and
returns a pydantic model (or an `ApiResponse`); domain errors become RFC 9457 problems via the one
table in `shared.http.problems`.

Over 400 lines on purpose: the whole edge (request checks in order, authentication, parsing, the guard
that turns an unexpected error into an audited 500) is one pipeline a security review reads top to
bottom; the pieces that stand alone are already out (limits, problems, pagination, concurrency).
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Generic
from urllib.parse import parse_qsl

from eventlet.event import Event
from nameko.containers import ServiceContainer
from nameko.extensions import Entrypoint
from nameko.web.handlers import HttpRequestHandler
from nameko.web.server import WebServer, WsgiApp
from pydantic import BaseModel, TypeAdapter, ValidationError
from typing_extensions import TypeVar
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from shared import tracing
from shared.audit import write_audit_now
from shared.auth import AuthenticationFailed, Identity, TokenVerifier, unverified_claims
from shared.bulk import gc_paused
from shared.config import SETTINGS_KEY, Settings
from shared.http.limits import may_hold_bad_text, parse_json, refuse_bad_text
from shared.http.problems import (
    BadRequest,
    Forbidden,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    Problem,
    Unauthorized,
    UnprocessableContent,
    UnsupportedMediaType,
    as_problem,
    problem_response,
    validation_errors,
)
from shared.logs import bind_request_context
from shared.metrics import metrics_for

log = logging.getLogger(__name__)

MAX_PATH_INT = 2**31 - 1  # `<int:...>` path values beyond this name nothing (PostgreSQL integer)
TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")
# Request headers a route may declare, as the OpenAPI document states them and the edge (or, for
# Idempotency-Key, shared/idempotency.py) enforces them: visible ASCII, at most 200 characters.
HEADER_SCHEMAS: dict[str, dict[str, Any]] = {
    "If-Match": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": r"^[ -~]*[!-~][ -~]*$"},
    "Idempotency-Key": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": r"^[ -~]*[!-~][ -~]*$"},
    "X-Legal-Basis": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": r"^[ -~]*[!-~][ -~]*$"},
}
IF_MATCH = re.compile(HEADER_SCHEMAS["If-Match"]["pattern"])


# The parsed body and query of a call: `Call[ReferralSubmission, ReferralQuery]` types `call.body` and `call.query`
# as the route's declared models (`body=` and `query=` of `@api`); a bare `Call` is `Call[Any, Any]`.
B = TypeVar("B", default=Any)
Q = TypeVar("Q", default=Any)


@dataclass(frozen=True)
class Call(Generic[B, Q]):
    """One API call as the service method sees it: who, what, and the parsed input."""

    identity: Identity | None
    path: dict[str, Any]
    body: B = None  # type: ignore[assignment]  # None for routes without a body (B is then None or Any)
    query: Q = None  # type: ignore[assignment]  # None for routes without a query model
    request_id: str = ""
    traceparent: str = ""
    if_match: str | None = None
    idempotency_key: str | None = None
    remote_addr: str | None = None
    raw_body: bytes = b""
    route: str = ""  # "POST /v1/referrals": the route pattern, what cursors and idempotency keys are bound to
    cursor_key: bytes = field(default=b"", repr=False)
    accept: str = ""  # the Accept header, for the few routes that negotiate (/metrics)
    legal_basis: str | None = None  # X-Legal-Basis: the RSMo 610.120 code a records officer opens a sealed record under

    @property
    def agency(self) -> str:
        assert self.identity is not None, "public endpoints have no agency"
        return self.identity.agency

    @property
    def actor(self) -> str:
        return self.identity.sub if self.identity else "anonymous"


@dataclass
class ApiResponse:
    """A response with a status, headers or a media type other than the route's defaults."""

    body: Any = None
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    media_type: str | None = None


def new_traceparent(trace_id: str | None = None) -> str:
    return f"00-{trace_id or uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01"


class ApiWsgiApp(WsgiApp):  # type: ignore[misc]  # nameko's (eventlet/werkzeug) WsgiApp is untyped
    """nameko's WSGI app, answering unknown routes and methods with problems instead of HTML."""

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked":
            # eventlet's input reads a chunked body to its end by itself; tell werkzeug so, or it reads
            # nothing (it still stops at the route's size limit, see `_parse`).
            environ["wsgi.input_terminated"] = True
        request = Request(environ, shallow=True)
        try:
            adapter = self.url_map.bind_to_environ(environ)
            provider, values = adapter.match()
            request.path_values = values  # type: ignore[attr-defined]
            response = provider.handle_request(request)
        except HTTPException as exc:
            problem: Problem = NotFound("no such route") if exc.code == 404 else Problem(exc.description)
            if exc.code == 405:
                # RFC 9110 15.5.6: a 405 names the methods the resource does allow.
                allowed = sorted(getattr(exc, "valid_methods", None) or [])
                problem = MethodNotAllowed(f"allowed: {', '.join(allowed)}", headers={"Allow": ", ".join(allowed)})
            elif exc.code not in (404, 405):
                problem.status = exc.code or 400
            response = problem_response(problem, instance=request.path)
        except Exception as exc:
            log.error("unhandled error routing %s %s: %s", environ.get("REQUEST_METHOD"), request.path,
                      type(exc).__name__, exc_info=(type(exc), exc, exc.__traceback__))
            response = problem_response(internal_error(), instance=request.path)
        return response(environ, start_response)


class ApiWebServer(WebServer):  # type: ignore[misc]  # nameko's (eventlet/werkzeug) WebServer is untyped
    def get_wsgi_app(self) -> ApiWsgiApp:
        return ApiWsgiApp(self)

    def get_wsgi_server(self, sock: Any, wsgi_app: Any, protocol: Any = None, debug: bool = False) -> Any:
        from shared.http.server import ProblemHttpProtocol

        return super().get_wsgi_server(sock, wsgi_app, protocol=ProblemHttpProtocol, debug=debug)


def _integral_floats_as_ints(document: Any) -> str:
    """The document as JSON with 25.0 written 25: JSON Schema calls it an integer, and so does the document."""
    def walk(value: Any) -> Any:
        if isinstance(value, float) and value.is_integer() and abs(value) <= 2**53:
            return int(value)
        if isinstance(value, dict):
            return {key: walk(child) for key, child in value.items()}
        if isinstance(value, list):
            return [walk(child) for child in value]
        return value
    return json.dumps(walk(document))


def _read_chunked(request: Request, limit: int) -> bytes:
    """A body without Content-Length (chunked): read up to one byte past the limit, so "too large" shows."""
    if not request.environ.get("wsgi.input_terminated"):
        return b""
    stream = request.environ["wsgi.input"]
    parts: list[bytes] = []
    size = 0
    while size <= limit:
        part = stream.read(min(65536, limit + 1 - size))
        if not part:
            break
        parts.append(part)
        size += len(part)
    return b"".join(parts)


def internal_error() -> Problem:
    problem = Problem("an internal error occurred; quote the request id when reporting it", slug="internal-error")
    problem.status, problem.title = 500, "Internal server error"
    return problem


def verifier_for(container: ServiceContainer) -> TokenVerifier:
    """One verifier per container, kept on it (extensions hold weak proxies to the container)."""
    verifier = getattr(container, "_diversion_verifier", None)
    if verifier is None:
        settings: Settings = container.config[SETTINGS_KEY]
        verifier = TokenVerifier(settings.common)
        container._diversion_verifier = verifier
    return verifier


def cursor_key_for(container: ServiceContainer) -> bytes:
    """The key list cursors are signed with (shared/http/pagination.py), derived once per container."""
    key = getattr(container, "_diversion_cursor_key", None)
    if key is None:
        from shared.auth import cursor_secret
        from shared.http.pagination import derive_cursor_key

        key = derive_cursor_key(cursor_secret(container.config[SETTINGS_KEY].common))
        container._diversion_cursor_key = key
    return bytes(key)


class ApiEntrypoint(HttpRequestHandler):  # type: ignore[misc]  # nameko's (eventlet/werkzeug) HttpRequestHandler is untyped
    """`@api("GET", "/v1/things/<id>", roles={"case_manager"}, response=ThingOut)`."""

    server = ApiWebServer()

    def __init__(
        self,
        method: str,
        url: str,
        *,
        roles: Iterable[str] | None = None,
        public: bool = False,
        body: type[BaseModel] | Any | None = None,
        query: type[BaseModel] | None = None,
        response: Any = None,
        status: int = 200,
        summary: str = "",
        tags: Iterable[str] = (),
        errors: Iterable[int] = (),
        media_type: str = "application/json",
        headers: Iterable[str] = (),
        required_headers: Iterable[str] = (),
        max_body_bytes: int | None = None,
        responses: dict[int, Any] | None = None,
        alternatives: Iterable[str] = (),
        person_data: bool = False,
        bulk: bool = False,
        **kwargs: Any,
    ):
        if not public and not roles:
            raise ValueError(f"{method} {url}: name the roles allowed, or mark the route public")
        self.roles = frozenset(roles or ())
        self.public = public
        self.body_model = body
        self.body_adapter = TypeAdapter(body) if body is not None else None
        self.query_model = query
        self.response_model = response
        self.status = status
        self.summary = summary
        self.tags = tuple(tags)
        self.errors = tuple(errors)
        self.media_type = media_type
        # `required_headers`: the route refuses a request without them (If-Match: 428), so the document says so.
        self.required_headers = tuple(required_headers)
        # A route a records officer reads may open a sealed record under an X-Legal-Basis code (ADR 0083).
        sealed_reads = ("X-Legal-Basis",) if method == "GET" and "records_officer" in self.roles else ()
        self.request_headers = tuple(dict.fromkeys((*headers, *self.required_headers, *sealed_reads)))
        if sealed_reads and 400 not in self.errors:
            self.errors += (400,)  # a malformed or unknown code
        self.max_body_bytes = max_body_bytes
        self.extra_responses = dict(responses or {})
        # Other media types the success response may take (e.g. text/csv for ?format=csv).
        self.alternatives = tuple(alternatives)
        # Returns person-level data: the method audits every read (OpenAPI `x-person-data`, walked by a test),
        # and a read that fails after authentication is audited here.
        self.person_data = person_data
        # A bulk route (a batch of hundreds of documents) runs with the cyclic garbage collector paused.
        self.bulk = bulk
        super().__init__(method, url, **kwargs)

    def get_url_rule(self) -> Rule:
        return Rule(self.url, methods=[self.method], strict_slashes=False)

    # -- request --------------------------------------------------------------------------------
    def handle_request(self, request: Request) -> Response:
        started = time.perf_counter()
        request.shallow = False
        request_id = request.headers.get("X-Request-ID", "")
        if not REQUEST_ID.match(request_id):
            request_id = uuid.uuid4().hex
        incoming = request.headers.get("traceparent", "")
        match = TRACEPARENT.match(incoming)
        span = None if "operations" in self.tags else tracing.start_span(
            self.container.service_name, f"{self.method} {self.url}", parent=incoming if match else None,
            kind=tracing.SpanKind.SERVER,
            attributes={"http.request.method": self.method, "http.route": self.url, "url.path": request.path},
        )
        traceparent = tracing.traceparent_of(span) if span else new_traceparent(match.group(1) if match else None)
        identity: Identity | None = None
        try:
            identity = self._authenticate(request, request_id)
            with gc_paused() if self.bulk else nullcontext():
                call = self._parse(request, identity, request_id, traceparent)
                context = {"request_id": request_id, "traceparent": traceparent}
                if identity is not None:
                    context.update(identity.context_data())
                event = Event()
                self.container.spawn_worker(
                    self, (call,), dict(call.path), context_data=context,
                    handle_result=partial(self.handle_result, event),
                )
                result = event.wait()
                response = self._response_from_result(result)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a problem, never a stack trace
            response = self._response_from_exception(exc, request_id, request.path)
            if response.status_code >= 500 and as_problem(exc) is None:
                self._audit_failure(identity, request, request_id, exc)
            if self.person_data and identity is not None:
                self._audit(identity, "person_data.read", "failure", request, request_id,
                            {"status": response.status_code, "path": request.path[:300]})
        response.headers["X-Request-ID"] = request_id
        response.headers.setdefault("traceparent", traceparent)
        metrics_for(self.container).observe_http(
            self.method, self.url, response.status_code, time.perf_counter() - started
        )
        tracing.end_span(span, f"answered {response.status_code}" if response.status_code >= 500 else None,
                         {"http.response.status_code": response.status_code})
        return response

    def _authenticate(self, request: Request, request_id: str) -> Identity | None:
        if self.public:
            return None
        try:
            identity = verifier_for(self.container).verify_header(request.headers.get("Authorization"))
        except AuthenticationFailed as exc:
            # Under the agency the token claims (unverified), so that agency's auditor sees the attempt; a
            # token naming none goes to the platform audit (agency_id NULL) the deployment's admin reads.
            agency, sub = unverified_claims(request.headers.get("Authorization"))
            self._audit(None, "authentication.failed", "failure", request, request_id,
                        {"reason": exc.reason, "claims_verified": False, "claimed_agency": agency},
                        agency_id=agency, actor=f"unverified:{sub}" if sub else None)
            metrics_for(self.container).auth_failures.inc()
            raise Unauthorized(exc.reason, headers={"WWW-Authenticate": 'Bearer realm="diversion"'}) from None
        if not identity.has_any(self.roles):
            self._audit(identity, "permission.denied", "denied", request, request_id,
                        {"required_roles": sorted(self.roles)})
            raise Forbidden(f"this action needs one of the roles: {', '.join(sorted(self.roles))}")
        return identity

    def _audit(
        self, identity: Identity | None, action: str, outcome: str, request: Request, request_id: str,
        detail: dict[str, Any], agency_id: str | None = None, actor: str | None = None,
    ) -> None:
        from shared.db import Database

        for dependency in self.container.dependencies:
            if isinstance(dependency, Database):
                write_audit_now(
                    dependency.engine,
                    service=self.container.service_name,
                    action=action,
                    outcome=outcome,
                    identity=identity,
                    resource_type="route",
                    resource_id=f"{self.method} {self.url}",
                    source_ip=request.remote_addr,
                    request_id=request_id,
                    detail=detail,
                    agency_id=agency_id,
                    actor=actor,
                )
                return

    def _audit_failure(self, identity: Identity | None, request: Request, request_id: str, exc: BaseException) -> None:
        """An unexpected error is a defect: on the audit trail too, so it is seen (never its message)."""
        try:
            self._audit(identity, "request.failed", "failure", request, request_id,
                        {"error": type(exc).__name__, "method": request.method})
        except Exception:
            log.exception("could not audit a failed request %s", request_id)

    def _parse(self, request: Request, identity: Identity | None, request_id: str, traceparent: str) -> Call:  # noqa: C901 - one branch per part of a request (path, query, headers, body); each is a separate check
        path_values = dict(request.path_values)  # type: ignore[attr-defined]
        refuse_bad_text({k: v for k, v in path_values.items() if isinstance(v, str)}, "path")
        if any(isinstance(v, int) and v > MAX_PATH_INT for v in path_values.values()):
            raise NotFound("no such resource")
        raw = b""
        body: Any = None
        if self.body_adapter is not None:
            limit = self.max_body_bytes or self.container.config[SETTINGS_KEY].common.max_body_bytes
            declared = request.content_length
            if declared is not None and declared > limit:
                raise PayloadTooLarge(f"the body is {declared} bytes; the limit is {limit}")
            request.max_content_length = limit
            try:
                raw = _read_chunked(request, limit) if declared is None else request.get_data(cache=True)
            except RequestEntityTooLarge:
                raise PayloadTooLarge(f"the body exceeds the limit of {limit} bytes") from None
            if len(raw) > limit:
                raise PayloadTooLarge(f"the body exceeds the limit of {limit} bytes",
                                      headers={"Connection": "close"})  # the rest is never read
            mimetype = request.mimetype or "application/json"
            if self.media_type == "application/json" and mimetype not in ("application/json",) and \
                    not mimetype.endswith("+json"):
                raise UnsupportedMediaType(f"send application/json, not {mimetype}")
            if self.media_type == "application/json":
                document = parse_json(raw)
                if may_hold_bad_text(raw):
                    refuse_bad_text(document, "body")
                try:
                    # Strict JSON: a number is no date, `0` no boolean, `false` no integer, "5" no number; what
                    # the OpenAPI document's types say, and nothing a client could send by mistake and get read.
                    body = self.body_adapter.validate_json(_integral_floats_as_ints(document), strict=True)
                except ValidationError as exc:
                    raise UnprocessableContent(
                        "the body does not match the schema", errors=validation_errors(exc.errors())
                    ) from None
            else:
                body = raw
                if self.media_type == "application/x-www-form-urlencoded":
                    refuse_bad_text(dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)), "body")
        if_match = request.headers.get("If-Match")
        malformed = if_match is not None and (len(if_match) > 200 or not IF_MATCH.match(if_match))
        if malformed and "If-Match" in self.request_headers:
            raise BadRequest("If-Match is 1-200 visible ASCII characters: the ETag you read, or *",
                             errors=[{"field": "If-Match", "message": "malformed", "type": "header"}])
        basis = request.headers.get("X-Legal-Basis")
        if basis is not None and "X-Legal-Basis" in self.request_headers and (
                len(basis) > 200 or not IF_MATCH.match(basis)):
            raise BadRequest("X-Legal-Basis is 1-200 visible ASCII characters: a RSMo 610.120 exception code",
                             errors=[{"field": "X-Legal-Basis", "message": "malformed", "type": "header"}])
        query = None
        if self.query_model is not None:
            values: dict[str, Any] = {}
            for key in request.args:
                items = request.args.getlist(key)
                values[key] = items if len(items) > 1 else items[0]
            refuse_bad_text(values, "query")
            try:
                query = self.query_model.model_validate(values)
            except ValidationError as exc:
                raise UnprocessableContent(
                    "the query parameters are invalid", slug="invalid-query",
                    errors=validation_errors(exc.errors()),
                ) from None
        return Call(
            identity=identity,
            path=path_values,
            body=body,
            query=query,
            request_id=request_id,
            traceparent=traceparent,
            if_match=if_match,
            idempotency_key=request.headers.get("Idempotency-Key"),
            remote_addr=request.remote_addr,
            raw_body=raw,
            route=f"{self.method} {self.url}",
            cursor_key=cursor_key_for(self.container) if self.query_model is not None else b"",
            accept=request.headers.get("Accept", ""),
            legal_basis=request.headers.get("X-Legal-Basis"),
        )

    # -- response -------------------------------------------------------------------------------
    def handle_result(self, event: Event, worker_ctx: Any, result: Any, exc_info: Any) -> Any:
        event.send(result, exc_info)
        return result, exc_info

    def _response_from_result(self, result: Any) -> Response:
        if isinstance(result, Response):
            return result
        status, headers, media_type = self.status, {}, self.media_type
        if isinstance(result, ApiResponse):
            status = result.status or status
            headers = dict(result.headers)
            media_type = result.media_type or media_type
            result = result.body
        if result is None and status == 204:
            return Response(status=204, headers=headers)
        payload: str | bytes
        if media_type == "application/json" or media_type.endswith("+json"):
            payload = self._dump(result)
        else:
            payload = result if isinstance(result, (str, bytes)) else str(result)
        headers.setdefault("Content-Type", media_type if "charset" in media_type or "json" in media_type
                           else f"{media_type}; charset=utf-8")
        return Response(payload, status=status, headers=headers)

    @staticmethod
    def _dump(result: Any) -> str:
        if isinstance(result, BaseModel):
            return result.model_dump_json()
        if isinstance(result, list) and result and isinstance(result[0], BaseModel):
            return "[" + ",".join(item.model_dump_json() for item in result) + "]"
        return json.dumps(result, default=str)

    def _response_from_exception(self, exc: BaseException, request_id: str, path: str) -> Response:
        problem = as_problem(exc)
        if problem is None:
            log.error("unhandled error in %s %s: %s", self.method, self.url, type(exc).__name__,
                      exc_info=(type(exc), exc, exc.__traceback__))
            problem = internal_error()
        return problem_response(problem, request_id=request_id, instance=path)


F = TypeVar("F", bound=Callable[..., Any])


def api(method: str, url: str, **options: Any) -> Callable[[F], F]:
    """`@api("GET", "/v1/cases/<id>", roles={...}, response=CaseOut, ...)`: an HTTP route of the service (see
    `ApiEntrypoint` for the options); the decorated method keeps its signature."""
    decorator: Callable[[F], F] = ApiEntrypoint.decorator(method, url, **options)
    return decorator


def api_routes(service_cls: type) -> list[tuple[str, ApiEntrypoint]]:
    """The (method name, entrypoint prototype) pairs of a service class, for the OpenAPI document."""
    from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR

    routes = []
    for name in dir(service_cls):
        member = getattr(service_cls, name, None)
        for entrypoint in getattr(member, ENTRYPOINT_EXTENSIONS_ATTR, ()) or ():
            if isinstance(entrypoint, ApiEntrypoint):
                routes.append((name, entrypoint))
    return sorted(routes, key=lambda pair: (pair[1].url, pair[1].method))


def bind_worker_context(worker_ctx: Any) -> None:
    bind_request_context(worker_ctx.data)


__all__ = ["ApiEntrypoint", "ApiResponse", "Call", "Entrypoint", "api", "api_routes"]
