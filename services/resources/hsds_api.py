"""The HSDS 3.0 API profile of the directory at `/hsds/`: the official Open Referral read API, exactly.

Every path, parameter and envelope of `hsds/schema/openapi.json` (Open Referral, CC BY-SA 4.0), with
documents shaped by the official compiled schemas. The HSDS compliance rules ask for an open feed that
may be throttled, one API stub, and `Access-Control-Allow-Origin: *` on every response; the directory
holds no personal data, so reads need no token unless the agency turns that off
(`DIVERSION_RESOURCES_HSDS_PUBLIC=false`). The staff API (`/v1/...`) is unchanged.
"""

from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import dataclass, fields
from functools import cache
from typing import Any

from sqlalchemy.orm import Session
from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from services.resources.directory.hsds import SCHEMA_DIR
from services.resources.schemas import (
    HsdsOrganizationQuery,
    HsdsOrganizationsQuery,
    HsdsPageQuery,
    HsdsServiceAtLocationsQuery,
    HsdsServicesQuery,
    HsdsTaxonomyTermsQuery,
)
from services.resources.settings import HsdsSettings, hsds_settings_of
from services.resources.usecases import hsds as reads
from shared.auth import AuthenticationFailed, Identity
from shared.extensions import own_settings
from shared.http.api import ApiEntrypoint, ApiResponse, Call, verifier_for
from shared.http.problems import NotFound, Problem, Unauthorized, problem_response
from shared.metrics import metrics_for

HSDS_VERSION = "3.0"
STUB = "/hsds"
OFFICIAL_OPENAPI = SCHEMA_DIR / "openapi.json"
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "X-Request-ID, Retry-After, traceparent",
}
READERS = frozenset({"screener", "case_manager", "supervisor", "partner", "admin", "auditor"})


class RateLimiter:
    """A fixed one-minute window per client IP, in this process (each instance limits on its own)."""

    def __init__(self, limit: int, window: float = 60.0) -> None:
        self.limit, self.window = limit, window
        self.counts: dict[str, tuple[float, int]] = {}

    def retry_after(self, client: str, now: float) -> int | None:
        """None if `client` may go on; else the seconds until its window ends."""
        if self.limit <= 0:
            return None
        start, count = self.counts.get(client, (now, 0))
        if now - start >= self.window:
            start, count = now, 0
        if count >= self.limit:
            return max(1, math.ceil(start + self.window - now))
        self.counts[client] = (start, count + 1)
        if len(self.counts) > 100_000:  # forget finished windows so the table stays bounded
            self.counts = {k: v for k, v in self.counts.items() if now - v[0] < self.window}
        return None


class TooManyRequests(Problem):
    status, slug, title = 429, "too-many-requests", "Too many requests"


@dataclass(frozen=True)
class HsdsCall(Call):
    base_url: str = ""  # e.g. "http://127.0.0.1:8003/"


class HsdsEntrypoint(ApiEntrypoint):
    """`@hsds("/services")`: a GET of the HSDS profile, open or token-guarded by setting, CORS, rate-limited."""

    def __init__(self, url: str, **kwargs: Any) -> None:
        kwargs.setdefault("tags", ["hsds"])
        # 401 only where the agency closes the feed; 429 past the rate limit.
        kwargs["errors"] = sorted({401, 429, *kwargs.get("errors", ())})
        if kwargs.get("query") is not None and "page" in kwargs["query"].model_fields:
            kwargs.setdefault("alternatives", ("application/x-ndjson",))  # ?format=ndjson
        super().__init__("GET", STUB + url, public=True, **kwargs)

    def setup(self) -> None:
        super().setup()
        self.settings = own_settings(self.container, HsdsSettings)
        limiter = getattr(self.container, "_diversion_hsds_limiter", None)
        if limiter is None:
            limiter = RateLimiter(self.settings.hsds_rate_limit_per_minute)
            self.container._diversion_hsds_limiter = limiter
        self.limiter: RateLimiter = limiter

    def get_url_rule(self) -> Rule:
        return Rule(self.url, methods=["GET", "OPTIONS"], strict_slashes=False)

    def handle_request(self, request: Request) -> Response:
        if request.method == "OPTIONS":
            response = Response(status=204, headers={
                **CORS_HEADERS, "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
                "Access-Control-Allow-Headers": "Authorization, Accept, Content-Type, X-Request-ID, traceparent",
                "Access-Control-Max-Age": "86400", "Allow": "GET, HEAD, OPTIONS"})
            return response
        wait = self.limiter.retry_after(request.remote_addr or "?", time.monotonic())
        if wait is not None:
            metrics_for(self.container).observe_http(self.method, self.url, 429, 0.0)
            response = problem_response(
                TooManyRequests(f"more than {self.limiter.limit} requests a minute from this address; "
                                f"try again in {wait} s", headers={"Retry-After": str(wait)}),
                instance=request.path)
        else:
            response = super().handle_request(request)
        for key, value in CORS_HEADERS.items():
            response.headers[key] = value
        return response

    def _authenticate(self, request: Request, request_id: str) -> Identity | None:
        if self.settings.hsds_public:
            return None
        try:
            identity = verifier_for(self.container).verify_header(request.headers.get("Authorization"))
        except AuthenticationFailed as exc:
            self._audit(None, "authentication.failed", "failure", request, request_id, {"reason": exc.reason})
            raise Unauthorized(f"this agency's HSDS feed needs a token: {exc.reason}",
                               headers={"WWW-Authenticate": 'Bearer realm="diversion"'}) from None
        if not identity.has_any(READERS):
            raise Unauthorized("the token carries no role of this suite")
        return identity

    def _parse(self, request: Request, identity: Identity | None, request_id: str, traceparent: str) -> Call:
        call = super()._parse(request, identity, request_id, traceparent)
        if any(any(ord(c) < 32 for c in str(v)) for v in call.path.values()):
            raise NotFound("no record has an id with control characters")  # (PostgreSQL refuses NUL)
        values = {f.name: getattr(call, f.name) for f in fields(call)}
        return HsdsCall(**values, base_url=self.settings.hsds_base_url or request.host_url)


hsds = HsdsEntrypoint.decorator


@cache
def official_openapi() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(OFFICIAL_OPENAPI.read_text(encoding="utf-8"))
    return document


def profile_openapi(base_url: str) -> dict[str, Any]:
    """The official HSDS OpenAPI with this deployment's info and server, and the HSDS 3.0.x fix.

    Open Referral's PATCH release (openreferral/specification#574) corrects `GET
    /service_at_locations/{id}` to answer the compiled `service_at_location.json`, as its
    description and the API reference say; the 3.0 file names `service.json` there by mistake.
    """
    document = copy.deepcopy(official_openapi())
    document["info"] = {
        "title": "Diversion suite directory: HSDS 3.0 API",
        "version": HSDS_VERSION,
        "summary": "The community resource directory as the Open Referral HSDS 3.0 read API.",
        "description": "Read-only, open, CORS-enabled and rate-limited HSDS 3.0 profile of the resources service.",
        "license": {"name": "CC BY-SA 4.0 (HSDS schemas, Open Referral)",
                    "url": "https://creativecommons.org/licenses/by-sa/4.0/"},
    }
    document["servers"] = [{"url": base_url.rstrip("/") + STUB}]
    content = document["paths"]["/service_at_locations/{id}"]["get"]["responses"]["200"]["content"]
    content["application/json"]["schema"]["$ref"] = content["application/json"]["schema"]["$ref"].replace(
        "compiled/service.json", "compiled/service_at_location.json")
    return document


# --- the endpoints ---------------------------------------------------------------------------------------


def _answer(query: HsdsPageQuery, total: int, contents: list[dict[str, Any]]) -> Any:
    """The official page envelope, or with `format=ndjson` every result, one per line."""
    if query.format == "ndjson":
        return ApiResponse("".join(json.dumps(item) + "\n" for item in contents), media_type="application/x-ndjson")
    return reads.page_envelope(total, query, contents)


class HsdsApi:
    """The HSDS 3.0 read API, mixed into the resources service (uses its `db`; the queries: `usecases.hsds`)."""

    db: Session

    @hsds("", summary="HSDS version, profile and the OpenAPI document of this API")
    def hsds_root(self, call: HsdsCall) -> dict[str, Any]:
        settings = hsds_settings_of(self)
        return {"version": HSDS_VERSION, "profile": settings.hsds_profile_url,
                "openapi_url": call.base_url.rstrip("/") + STUB + "/openapi.json"}

    @hsds("/openapi.json", summary="The official HSDS 3.0 OpenAPI document this profile implements")
    def hsds_openapi(self, call: HsdsCall) -> dict[str, Any]:
        return profile_openapi(call.base_url)

    # -- services -----------------------------------------------------------------------------------------

    @hsds("/services", query=HsdsServicesQuery,
          summary="Paginated services (one-to-one fields; `full` for fully nested, `minimal` for id and dates)")
    def hsds_services(self, call: HsdsCall) -> Any:
        return _answer(call.query, *reads.services(self.db, call.query))

    @hsds("/services/<id>", summary="One service, fully nested (compiled service.json)")
    def hsds_service(self, call: HsdsCall, id: str) -> dict[str, Any]:
        return reads.service(self.db, id)

    # -- service at locations -----------------------------------------------------------------------------

    @hsds("/service_at_locations", query=HsdsServiceAtLocationsQuery,
          summary="Paginated services at locations, filterable by taxonomy, organization, postcode and proximity")
    def hsds_service_at_locations(self, call: HsdsCall) -> Any:
        return _answer(call.query, *reads.service_at_locations(self.db, call.query))

    @hsds("/service_at_locations/<id>", summary="One service at a location, fully nested")
    def hsds_service_at_location(self, call: HsdsCall, id: str) -> dict[str, Any]:
        return reads.service_at_location(self.db, id)

    # -- organizations --------------------------------------------------------------------------------------

    @hsds("/organizations", query=HsdsOrganizationsQuery,
          summary="Paginated organizations (basic fields; `full`/`full_service` for nested documents)")
    def hsds_organizations(self, call: HsdsCall) -> Any:
        return _answer(call.query, *reads.organizations(self.db, call.query))

    @hsds("/organizations/<id>", query=HsdsOrganizationQuery,
          summary="One organization, fully nested; its services by their own fields unless `full_service`")
    def hsds_organization(self, call: HsdsCall, id: str) -> dict[str, Any]:
        query: HsdsOrganizationQuery = call.query
        return reads.organization(self.db, id, query.full_service)

    # -- taxonomies ---------------------------------------------------------------------------------------

    @hsds("/taxonomies", query=HsdsPageQuery, summary="Paginated taxonomies")
    def hsds_taxonomies(self, call: HsdsCall) -> Any:
        return _answer(call.query, *reads.taxonomies(self.db, call.query))

    @hsds("/taxonomies/<id>", summary="One taxonomy")
    def hsds_taxonomy(self, call: HsdsCall, id: str) -> dict[str, Any]:
        return reads.one_taxonomy_document(self.db, "taxonomy", id, "no taxonomy has this id")

    @hsds("/taxonomy_terms", query=HsdsTaxonomyTermsQuery, summary="Paginated taxonomy terms")
    def hsds_taxonomy_terms(self, call: HsdsCall) -> Any:
        return _answer(call.query, *reads.taxonomy_terms(self.db, call.query))

    @hsds("/taxonomy_terms/<id>", summary="One taxonomy term")
    def hsds_taxonomy_term(self, call: HsdsCall, id: str) -> dict[str, Any]:
        return reads.one_taxonomy_document(self.db, "taxonomy_term", id, "no taxonomy term has this id")


__all__ = ["HsdsApi", "HsdsEntrypoint", "HsdsPageQuery", "HsdsSettings", "RateLimiter", "official_openapi",
           "profile_openapi"]
