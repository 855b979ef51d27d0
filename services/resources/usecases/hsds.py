"""The HSDS 3.0 read profile's queries: filters, pages (the official envelope) and documents to export.

Every HSDS timestamp column is `UtcDateTime`: rows come back aware, and a naive `modified_after` from a
client is compared as UTC by the column's type.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Select, exists, false, func, or_, select
from sqlalchemy.orm import Session

from services.resources.directory.export import export_documents
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
from services.resources.schemas import (
    HsdsFilters,
    HsdsOrganizationsQuery,
    HsdsPageQuery,
    HsdsServiceAtLocationsQuery,
    HsdsServicesQuery,
    HsdsTaxonomyTermsQuery,
)
from services.resources.store import load_directory, row_record
from shared.http.problems import NotFound, UnprocessableContent

Contents = tuple[int, list[dict[str, Any]]]  # (total, the page's documents)


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance between two points, in kilometres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * 6371.0088 * math.asin(min(1.0, math.sqrt(a)))


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _words(search: str | None) -> list[str]:
    return [w for w in (search or "").split() if w][:10]


def _like(word: str) -> str:
    return "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _text_match(word: str, *columns: Any) -> Any:
    return or_(*(c.ilike(_like(word), escape="\\") for c in columns))


def _postcode(column: Any) -> Any:
    return func.upper(func.replace(column, " ", ""))


def page_envelope(total: int, query: HsdsPageQuery, contents: list[dict[str, Any]]) -> dict[str, Any]:
    """The official page envelope (pages count from one)."""
    pages = math.ceil(total / query.per_page) if total else 0
    return {
        "total_items": total, "total_pages": pages, "page_number": query.page, "size": len(contents),
        "first_page": query.page == 1, "last_page": query.page >= pages, "empty": not contents,
        "contents": contents,
    }


def _total(session: Session, statement: Select[Any]) -> int:
    return int(session.execute(select(func.count()).select_from(statement.subquery())).scalar_one())


def _paged(statement: Select[Any], query: HsdsPageQuery) -> Select[Any]:
    """One page in JSON; every row in NDJSON."""
    if query.format == "json":
        return statement.limit(query.per_page).offset((query.page - 1) * query.per_page)
    return statement


def _service_filter(query: HsdsFilters) -> list[Any]:
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
        where.append(s.c.last_modified >= query.modified_after)
    return where


def _documents(session: Session, kind: str, ids: Sequence[str], organization_ids: Iterable[str], shape: str,
               flat: Iterable[str] = ()) -> list[dict[str, Any]]:
    directory = load_directory(session, sorted(set(organization_ids)))
    return export_documents(directory, kind, [uuid.UUID(i) for i in ids], shape=shape, flat=flat)


# -- services ---------------------------------------------------------------------------------------------


def services(session: Session, query: HsdsServicesQuery) -> Contents:
    s, o = SERVICE, ORGANIZATION
    base = select(s.c.id, s.c.organization_id).join(o, o.c.id == s.c.organization_id).where(*_service_filter(query))
    total = _total(session, base)
    rows = session.execute(_paged(base.order_by(s.c.name, s.c.id), query)).all()
    if not query.minimal:
        return total, _documents(session, "service", [r.id for r in rows], [r.organization_id for r in rows],
                                 "full" if query.full else "list")
    minimal = session.execute(select(s.c.id, s.c.name, s.c.status, s.c.last_modified)
                              .where(s.c.id.in_([r.id for r in rows]))).mappings().all()
    by_id = {m["id"]: m for m in minimal}
    contents = []
    for r in rows:
        m = by_id[r.id]
        item = {"id": m["id"], "name": m["name"], "status": m["status"]}
        if m["last_modified"] is not None:
            item["last_modified"] = m["last_modified"].isoformat().replace("+00:00", "Z")
        contents.append(item)
    return total, contents


def service(session: Session, service_id: str) -> dict[str, Any]:
    row = session.execute(select(SERVICE.c.id, SERVICE.c.organization_id).where(SERVICE.c.id == service_id)).first()
    if row is None:
        raise NotFound("no service has this id")
    return _documents(session, "service", [row.id], [row.organization_id], "full")[0]


# -- service at locations ---------------------------------------------------------------------------------


def service_at_locations(session: Session, query: HsdsServiceAtLocationsQuery) -> Contents:
    sal, s, o, loc = SERVICE_AT_LOCATION, SERVICE, ORGANIZATION, LOCATION
    base = select(sal.c.id, s.c.organization_id, loc.c.latitude, loc.c.longitude) \
        .join(s, s.c.id == sal.c.service_id).join(o, o.c.id == s.c.organization_id) \
        .join(loc, loc.c.id == sal.c.location_id).where(*_service_filter(query))
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
            near = _near(session, ordered, at_postcode, query.proximity)
            if query.format == "json":
                start = (query.page - 1) * query.per_page
                return len(near), _sal_documents(session, query, near[start:start + query.per_page])
            return len(near), _sal_documents(session, query, near)
    total = _total(session, ordered)
    return total, _sal_documents(session, query, list(session.execute(_paged(ordered, query)).all()))


def _near(session: Session, ordered: Select[Any], at_postcode: Any, proximity_m: float) -> list[Any]:
    """The rows within `proximity_m` metres of the centre of the postcode's locations (none without one)."""
    loc = LOCATION
    centre = session.execute(
        select(func.avg(loc.c.latitude), func.avg(loc.c.longitude)).where(
            at_postcode, loc.c.latitude.is_not(None), loc.c.longitude.is_not(None))).first()
    if centre is None or centre[0] is None:
        return list(session.execute(ordered.where(false())).all())
    lat, lon = float(centre[0]), float(centre[1])
    km = proximity_m / 1000.0
    ordered = ordered.where(loc.c.latitude.is_not(None), loc.c.longitude.is_not(None))
    return [r for r in session.execute(ordered).all() if haversine_km(lat, lon, r.latitude, r.longitude) <= km]


def _sal_documents(session: Session, query: HsdsServiceAtLocationsQuery, rows: list[Any]) -> list[dict[str, Any]]:
    return _documents(session, "service_at_location", [r.id for r in rows], [r.organization_id for r in rows],
                      "full" if query.full else "list")


def service_at_location(session: Session, sal_id: str) -> dict[str, Any]:
    row = session.execute(
        select(SERVICE_AT_LOCATION.c.id, SERVICE.c.organization_id)
        .join(SERVICE, SERVICE.c.id == SERVICE_AT_LOCATION.c.service_id)
        .where(SERVICE_AT_LOCATION.c.id == sal_id)).first()
    if row is None:
        raise NotFound("no service_at_location has this id")
    return _documents(session, "service_at_location", [row.id], [row.organization_id], "full")[0]


# -- organizations ----------------------------------------------------------------------------------------


def organizations(session: Session, query: HsdsOrganizationsQuery) -> Contents:
    o = ORGANIZATION
    base = select(o.c.id).where(*(_text_match(w, o.c.name, o.c.alternate_name, o.c.description)
                                  for w in _words(query.search)))
    total = _total(session, base)
    ids = [r.id for r in session.execute(_paged(base.order_by(o.c.name, o.c.id), query)).all()]
    nested = query.full or query.full_service
    return total, _documents(session, "organization", ids, ids, "full" if nested else "list",
                             flat=() if query.full_service else ("services",))


def organization(session: Session, organization_id: str, full_service: bool) -> dict[str, Any]:
    if session.execute(select(ORGANIZATION.c.id).where(ORGANIZATION.c.id == organization_id)).first() is None:
        raise NotFound("no organization has this id")
    return _documents(session, "organization", [organization_id], [organization_id], "full",
                      flat=() if full_service else ("services",))[0]


# -- taxonomies -------------------------------------------------------------------------------------------


def taxonomy_documents(session: Session, kind: str, ids: list[str]) -> list[dict[str, Any]]:
    if kind == "taxonomy":
        rows = session.execute(select(TAXONOMY).where(TAXONOMY.c.id.in_(ids))).mappings().all()
        directory = Directory(taxonomies=[row_record(Taxonomy, r) for r in rows])
    else:
        rows = session.execute(select(TAXONOMY_TERM).where(TAXONOMY_TERM.c.id.in_(ids))).mappings().all()
        terms = [row_record(TaxonomyTerm, r) for r in rows]
        taxonomy_ids = [r["taxonomy_id"] for r in rows if r["taxonomy_id"]]
        taxonomies = session.execute(select(TAXONOMY).where(TAXONOMY.c.id.in_(taxonomy_ids))).mappings().all()
        directory = Directory(taxonomy_terms=terms,
                              taxonomies=[row_record(Taxonomy, r) for r in taxonomies])
    return export_documents(directory, kind, [uuid.UUID(i) for i in ids])


def _taxonomy_page(session: Session, kind: str, base: Select[Any], order: Sequence[Any],
                   query: HsdsPageQuery) -> Contents:
    total = _total(session, base)
    ids = [r.id for r in session.execute(_paged(base.order_by(*order), query)).all()]
    return total, taxonomy_documents(session, kind, ids)


def taxonomies(session: Session, query: HsdsPageQuery) -> Contents:
    t = TAXONOMY
    base = select(t.c.id).where(*(_text_match(w, t.c.name, t.c.description) for w in _words(query.search)))
    return _taxonomy_page(session, "taxonomy", base, (t.c.name, t.c.id), query)


def taxonomy_terms(session: Session, query: HsdsTaxonomyTermsQuery) -> Contents:
    t = TAXONOMY_TERM
    where = [_text_match(w, t.c.name, t.c.code, t.c.description) for w in _words(query.search)]
    if query.taxonomy_id is not None:
        where.append(t.c.taxonomy_id == query.taxonomy_id)
    if query.parent_id is not None:
        where.append(t.c.parent_id == query.parent_id)
    if query.top_only:
        where.append(t.c.parent_id.is_(None))
    return _taxonomy_page(session, "taxonomy_term", select(t.c.id).where(*where), (t.c.name, t.c.id), query)


def one_taxonomy_document(session: Session, kind: str, record_id: str, missing: str) -> dict[str, Any]:
    """One taxonomy or taxonomy term (ids are UUIDs: any other id is simply not found)."""
    documents = taxonomy_documents(session, kind, [record_id]) if is_uuid(record_id) else []
    if not documents:
        raise NotFound(missing)
    return documents[0]
