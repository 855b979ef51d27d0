"""The HSDS 3.0 API profile of the directory at `/hsds/`: the official Open Referral read API, exactly.

Every path, parameter and envelope of `hsds/schema/openapi.json` (Open Referral, CC BY-SA 4.0), with
documents shaped by the official compiled schemas. The HSDS compliance rules ask for an open feed that
may be throttled, one API stub, and `Access-Control-Allow-Origin: *` on every response; the directory
holds no personal data, so reads need no token unless the agency turns that off
(`DIVERSION_RESOURCES_HSDS_PUBLIC=false`). The staff API (`/v1/...`) is unchanged.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import math
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import BaseSettings
from sqlalchemy import exists, false, func, or_, select
from sqlalchemy.orm import Session
from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from services.resources.directory.export import export_documents
from services.resources.directory.hsds import SCHEMA_DIR
from services.resources.directory.model import Directory, Taxonomy, TaxonomyTerm
from services.resources.models import (
    ADDRESS,
    ATTRIBUTE,
    LOCATION,
    ORGANIZATION,
    SERVICE,
    SERVICE_AT_LOCATION,
    TAXONOMY,
    TAXONOMY_TERM,
)
from services.resources.store import load_directory, row_record
from shared.auth import AuthenticationFailed, Identity
from shared.config import SETTINGS_KEY
from shared.http.api import ApiEntrypoint, ApiResponse, Call, verifier_for
from shared.http.problems import NotFound, Problem, Unauthorized, UnprocessableContent, problem_response
from shared.metrics import metrics_for
from shared.types import IsoDateTime

HSDS_VERSION = "3.0"
STUB = "/hsds"
OFFICIAL_OPENAPI = SCHEMA_DIR / "openapi.json"
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "X-Request-ID, Retry-After, traceparent",
}
READERS = frozenset({"screener", "case_manager", "supervisor", "partner", "admin", "auditor"})


class HsdsSettings(BaseSettings):
    """The HSDS profile's settings (`DIVERSION_RESOURCES_HSDS_*`), part of the resources settings."""

    hsds_public: bool = Field(default=True, description="read the HSDS profile without a token")
    hsds_rate_limit_per_minute: int = Field(default=600, ge=0, le=1_000_000,
                                            description="HSDS requests per client IP per minute (0: no limit)")
    hsds_profile_url: str = Field(default="https://docs.openreferral.org/en/v3.0/hsds/api_reference.html",
                                  description="what `/hsds/` names as the profile: the base HSDS 3.0 API")
    hsds_base_url: str | None = Field(default=None, description="public URL of this service (openapi_url)")


def hsds_settings(container: Any) -> HsdsSettings:
    settings = container.config.get(SETTINGS_KEY)
    extra = getattr(settings, "extra", None)
    return extra if isinstance(extra, HsdsSettings) else HsdsSettings()


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
        self.settings = hsds_settings(self.container)
        limiter = getattr(self.container, "_diversion_hsds_limiter", None)
        if limiter is None:
            limiter = RateLimiter(self.settings.hsds_rate_limit_per_minute)
            self.container._diversion_hsds_limiter = limiter  # type: ignore[attr-defined]
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


# --- parameters (the official OpenAPI's components/parameters) -----------------------------------------


class _Query(BaseModel):
    # Unknown parameters are ignored, as a public read API should (cache busters, a client's extras).
    model_config = ConfigDict(extra="ignore")

    @field_validator("*", mode="before")
    @classmethod
    def _printable(cls, value: Any) -> Any:
        if isinstance(value, str) and any(ord(c) < 32 for c in value):
            raise ValueError("control characters are not allowed")
        return value


class HsdsPageQuery(_Query):
    search: str | None = Field(default=None, max_length=200, description="Full text search.")
    page: int = Field(default=1, ge=1, le=1_000_000, description="Page number of paginated result.")
    per_page: int = Field(default=50, ge=1, le=1000, description="Number of results requested in a single page.")
    format: Literal["json", "ndjson"] = Field(
        default="json", description="`json` (paginated), or `ndjson`: every result, one per line, unpaginated.")


class _HsdsFilters(HsdsPageQuery):
    taxonomy_term_id: str | None = Field(default=None, max_length=64)
    taxonomy_id: str | None = Field(default=None, max_length=64)
    organization_id: str | None = Field(default=None, max_length=64)
    modified_after: IsoDateTime | None = Field(default=None, description="modified on or after (RFC 3339)")
    full: bool = False


class HsdsServicesQuery(_HsdsFilters):
    minimal: bool = Field(default=False, description="only id, name, status and last_modified of each service")


class HsdsServiceAtLocationsQuery(_HsdsFilters):
    postcode: str | None = Field(default=None, min_length=1, max_length=20)
    proximity: float | None = Field(default=None, gt=0, le=20_000_000, description="meters from the postcode")


class HsdsOrganizationsQuery(HsdsPageQuery):
    full: bool = False
    full_service: bool = False


class HsdsOrganizationQuery(_Query):
    full_service: bool = False


class HsdsTaxonomyTermsQuery(HsdsPageQuery):
    taxonomy_id: str | None = Field(default=None, max_length=64)
    top_only: bool = Field(default=False, description="only terms without a parent")
    parent_id: str | None = Field(default=None, max_length=64)


# --- helpers ---------------------------------------------------------------------------------------------


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance between two points, in kilometres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * 6371.0088 * math.asin(min(1.0, math.sqrt(a)))


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _words(search: str | None) -> list[str]:
    return [w for w in (search or "").split() if w][:10]


def _like(word: str) -> str:
    return "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _text_match(word: str, *columns: Any) -> Any:
    return or_(*(c.ilike(_like(word), escape="\\") for c in columns))


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _postcode(column: Any) -> Any:
    return func.upper(func.replace(column, " ", ""))


def _page(total: int, query: HsdsPageQuery, contents: list[dict[str, Any]]) -> dict[str, Any]:
    pages = math.ceil(total / query.per_page) if total else 0
    return {
        "total_items": total, "total_pages": pages, "page_number": query.page, "size": len(contents),
        "first_page": query.page == 1, "last_page": query.page >= pages, "empty": not contents,
        "contents": contents,
    }


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


class HsdsApi:
    """The HSDS 3.0 read API, mixed into the resources service (uses its `db`)."""

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

    def _service_filter(self, query: _HsdsFilters) -> list[Any]:
        s, o = SERVICE, ORGANIZATION
        where: list[Any] = []
        for word in _words(query.search):
            where.append(_text_match(word, s.c.name, s.c.alternate_name, s.c.description, o.c.name))
        if query.organization_id is not None:
            where.append(s.c.organization_id == query.organization_id)
        if query.taxonomy_term_id is not None:
            where.append(exists().where(ATTRIBUTE.c.link_id == s.c.id,
                                        ATTRIBUTE.c.taxonomy_term_id == query.taxonomy_term_id))
        if query.taxonomy_id is not None:
            where.append(exists().where(ATTRIBUTE.c.link_id == s.c.id,
                                        ATTRIBUTE.c.taxonomy_term_id == TAXONOMY_TERM.c.id,
                                        TAXONOMY_TERM.c.taxonomy_id == query.taxonomy_id))
        if query.modified_after is not None:
            where.append(s.c.last_modified >= _aware(query.modified_after))
        return where

    def _documents(self, kind: str, ids: Sequence[str], organization_ids: Iterable[str], shape: str,
                   flat: Iterable[str] = ()) -> list[dict[str, Any]]:
        directory = load_directory(self.db, sorted(set(organization_ids)))
        return export_documents(directory, kind, [uuid.UUID(i) for i in ids], shape=shape, flat=flat)

    def _ndjson(self, items: list[dict[str, Any]]) -> ApiResponse:
        return ApiResponse("".join(json.dumps(item) + "\n" for item in items), media_type="application/x-ndjson")

    @hsds("/services", query=HsdsServicesQuery,
          summary="Paginated services (one-to-one fields; `full` for fully nested, `minimal` for id and dates)")
    def hsds_services(self, call: HsdsCall) -> Any:
        query: HsdsServicesQuery = call.query
        s, o = SERVICE, ORGANIZATION
        base = select(s.c.id, s.c.organization_id).join(o, o.c.id == s.c.organization_id) \
            .where(*self._service_filter(query))
        total = self.db.execute(select(func.count()).select_from(base.subquery())).scalar_one()
        ordered = base.order_by(s.c.name, s.c.id)
        if query.format == "json":
            ordered = ordered.limit(query.per_page).offset((query.page - 1) * query.per_page)
        rows = self.db.execute(ordered).all()
        if query.minimal:
            minimal = self.db.execute(select(s.c.id, s.c.name, s.c.status, s.c.last_modified)
                                      .where(s.c.id.in_([r.id for r in rows]))).mappings().all()
            by_id = {m["id"]: m for m in minimal}
            contents = []
            for r in rows:
                m = by_id[r.id]
                item = {"id": m["id"], "name": m["name"], "status": m["status"]}
                if m["last_modified"] is not None:
                    item["last_modified"] = _aware(m["last_modified"]).isoformat().replace("+00:00", "Z")
                contents.append(item)
        else:
            contents = self._documents("service", [r.id for r in rows], [r.organization_id for r in rows],
                                       "full" if query.full else "list")
        if query.format == "ndjson":
            return self._ndjson(contents)
        return _page(total, query, contents)

    @hsds("/services/<id>", summary="One service, fully nested (compiled service.json)")
    def hsds_service(self, call: HsdsCall, id: str) -> dict[str, Any]:  # noqa: A002 - the official name
        row = self.db.execute(select(SERVICE.c.id, SERVICE.c.organization_id).where(SERVICE.c.id == id)).first()
        if row is None:
            raise NotFound("no service has this id")
        return self._documents("service", [row.id], [row.organization_id], "full")[0]

    # -- service at locations -----------------------------------------------------------------------------

    @hsds("/service_at_locations", query=HsdsServiceAtLocationsQuery,
          summary="Paginated services at locations, filterable by taxonomy, organization, postcode and proximity")
    def hsds_service_at_locations(self, call: HsdsCall) -> Any:
        query: HsdsServiceAtLocationsQuery = call.query
        sal, s, o, loc = SERVICE_AT_LOCATION, SERVICE, ORGANIZATION, LOCATION
        base = select(sal.c.id, s.c.organization_id, loc.c.latitude, loc.c.longitude) \
            .join(s, s.c.id == sal.c.service_id).join(o, o.c.id == s.c.organization_id) \
            .join(loc, loc.c.id == sal.c.location_id).where(*self._service_filter(query))
        ordered = base.order_by(s.c.name, sal.c.id)
        if query.proximity is not None and query.postcode is None:
            raise UnprocessableContent("proximity is measured from a postcode; give `postcode` too",
                                       slug="invalid-query",
                                       errors=[{"field": "proximity", "message": "needs postcode",
                                                "type": "missing_postcode"}])
        if query.postcode is not None:
            wanted = query.postcode.replace(" ", "").upper()
            at_postcode = exists().where(ADDRESS.c.location_id == loc.c.id, _postcode(ADDRESS.c.postal_code) == wanted)
            if query.proximity is None:
                ordered = ordered.where(at_postcode)
            else:
                centre = self.db.execute(
                    select(func.avg(loc.c.latitude), func.avg(loc.c.longitude)).where(
                        at_postcode, loc.c.latitude.is_not(None), loc.c.longitude.is_not(None))).first()
                if centre is None or centre[0] is None:
                    ordered = ordered.where(false())
                else:
                    lat, lon = float(centre[0]), float(centre[1])
                    km = query.proximity / 1000.0
                    ordered = ordered.where(loc.c.latitude.is_not(None), loc.c.longitude.is_not(None))
                    near = [r for r in self.db.execute(ordered).all()
                            if haversine_km(lat, lon, r.latitude, r.longitude) <= km]
                    return self._sal_answer(query, near, len(near), paged_already=False)
        total = self.db.execute(select(func.count()).select_from(ordered.subquery())).scalar_one()
        if query.format == "json":
            ordered = ordered.limit(query.per_page).offset((query.page - 1) * query.per_page)
        return self._sal_answer(query, list(self.db.execute(ordered).all()), total, paged_already=True)

    def _sal_answer(self, query: HsdsServiceAtLocationsQuery, rows: list[Any], total: int, *,
                    paged_already: bool) -> Any:
        if not paged_already and query.format == "json":
            start = (query.page - 1) * query.per_page
            rows = rows[start:start + query.per_page]
        contents = self._documents("service_at_location", [r.id for r in rows], [r.organization_id for r in rows],
                                   "full" if query.full else "list")
        if query.format == "ndjson":
            return self._ndjson(contents)
        return _page(total, query, contents)

    @hsds("/service_at_locations/<id>", summary="One service at a location, fully nested")
    def hsds_service_at_location(self, call: HsdsCall, id: str) -> dict[str, Any]:  # noqa: A002
        row = self.db.execute(
            select(SERVICE_AT_LOCATION.c.id, SERVICE.c.organization_id)
            .join(SERVICE, SERVICE.c.id == SERVICE_AT_LOCATION.c.service_id)
            .where(SERVICE_AT_LOCATION.c.id == id)).first()
        if row is None:
            raise NotFound("no service_at_location has this id")
        return self._documents("service_at_location", [row.id], [row.organization_id], "full")[0]

    # -- organizations --------------------------------------------------------------------------------------

    @hsds("/organizations", query=HsdsOrganizationsQuery,
          summary="Paginated organizations (basic fields; `full`/`full_service` for nested documents)")
    def hsds_organizations(self, call: HsdsCall) -> Any:
        query: HsdsOrganizationsQuery = call.query
        o = ORGANIZATION
        base = select(o.c.id).where(*(_text_match(w, o.c.name, o.c.alternate_name, o.c.description)
                                      for w in _words(query.search)))
        total = self.db.execute(select(func.count()).select_from(base.subquery())).scalar_one()
        ordered = base.order_by(o.c.name, o.c.id)
        if query.format == "json":
            ordered = ordered.limit(query.per_page).offset((query.page - 1) * query.per_page)
        ids = [r.id for r in self.db.execute(ordered).all()]
        nested = query.full or query.full_service
        contents = self._documents("organization", ids, ids, "full" if nested else "list",
                                   flat=() if query.full_service else ("services",))
        if query.format == "ndjson":
            return self._ndjson(contents)
        return _page(total, query, contents)

    @hsds("/organizations/<id>", query=HsdsOrganizationQuery,
          summary="One organization, fully nested; its services by their own fields unless `full_service`")
    def hsds_organization(self, call: HsdsCall, id: str) -> dict[str, Any]:  # noqa: A002
        query: HsdsOrganizationQuery = call.query
        if self.db.execute(select(ORGANIZATION.c.id).where(ORGANIZATION.c.id == id)).first() is None:
            raise NotFound("no organization has this id")
        return self._documents("organization", [id], [id], "full",
                               flat=() if query.full_service else ("services",))[0]

    # -- taxonomies ---------------------------------------------------------------------------------------

    def _taxonomy_documents(self, kind: str, ids: list[str]) -> list[dict[str, Any]]:
        if kind == "taxonomy":
            rows = self.db.execute(select(TAXONOMY).where(TAXONOMY.c.id.in_(ids))).mappings().all()
            directory = Directory(taxonomies=[row_record(Taxonomy, r) for r in rows])  # type: ignore[list-item]
        else:
            rows = self.db.execute(select(TAXONOMY_TERM).where(TAXONOMY_TERM.c.id.in_(ids))).mappings().all()
            terms = [row_record(TaxonomyTerm, r) for r in rows]
            taxonomy_ids = [r["taxonomy_id"] for r in rows if r["taxonomy_id"]]
            taxonomies = self.db.execute(select(TAXONOMY).where(TAXONOMY.c.id.in_(taxonomy_ids))).mappings().all()
            directory = Directory(taxonomy_terms=terms,  # type: ignore[arg-type]
                                  taxonomies=[row_record(Taxonomy, r) for r in taxonomies])  # type: ignore[misc]
        return export_documents(directory, kind, [uuid.UUID(i) for i in ids])

    def _taxonomy_page(self, kind: str, base: Any, order: Sequence[Any], query: HsdsPageQuery) -> Any:
        total = self.db.execute(select(func.count()).select_from(base.subquery())).scalar_one()
        ordered = base.order_by(*order)
        if query.format == "json":
            ordered = ordered.limit(query.per_page).offset((query.page - 1) * query.per_page)
        contents = self._taxonomy_documents(kind, [r.id for r in self.db.execute(ordered).all()])
        if query.format == "ndjson":
            return self._ndjson(contents)
        return _page(total, query, contents)

    @hsds("/taxonomies", query=HsdsPageQuery, summary="Paginated taxonomies")
    def hsds_taxonomies(self, call: HsdsCall) -> Any:
        query: HsdsPageQuery = call.query
        t = TAXONOMY
        base = select(t.c.id).where(*(_text_match(w, t.c.name, t.c.description) for w in _words(query.search)))
        return self._taxonomy_page("taxonomy", base, (t.c.name, t.c.id), query)

    @hsds("/taxonomies/<id>", summary="One taxonomy")
    def hsds_taxonomy(self, call: HsdsCall, id: str) -> dict[str, Any]:  # noqa: A002
        documents = self._taxonomy_documents("taxonomy", [id]) if _uuid(id) else []
        if not documents:
            raise NotFound("no taxonomy has this id")
        return documents[0]

    @hsds("/taxonomy_terms", query=HsdsTaxonomyTermsQuery, summary="Paginated taxonomy terms")
    def hsds_taxonomy_terms(self, call: HsdsCall) -> Any:
        query: HsdsTaxonomyTermsQuery = call.query
        t = TAXONOMY_TERM
        where = [_text_match(w, t.c.name, t.c.code, t.c.description) for w in _words(query.search)]
        if query.taxonomy_id is not None:
            where.append(t.c.taxonomy_id == query.taxonomy_id)
        if query.parent_id is not None:
            where.append(t.c.parent_id == query.parent_id)
        if query.top_only:
            where.append(t.c.parent_id.is_(None))
        return self._taxonomy_page("taxonomy_term", select(t.c.id).where(*where), (t.c.name, t.c.id), query)

    @hsds("/taxonomy_terms/<id>", summary="One taxonomy term")
    def hsds_taxonomy_term(self, call: HsdsCall, id: str) -> dict[str, Any]:  # noqa: A002
        documents = self._taxonomy_documents("taxonomy_term", [id]) if _uuid(id) else []
        if not documents:
            raise NotFound("no taxonomy term has this id")
        return documents[0]


def hsds_settings_of(service: Any) -> HsdsSettings:
    settings = getattr(service, "config", None)
    return settings if isinstance(settings, HsdsSettings) else HsdsSettings()


__all__ = ["HsdsApi", "HsdsEntrypoint", "HsdsSettings", "RateLimiter", "official_openapi", "profile_openapi"]
