"""Directory search in SQL: filters, ranking and paging over the `service_search*` rows, in one statement.

Full text is PostgreSQL `tsvector` (GIN, `websearch_to_tsquery`, `ts_rank`) in production and SQLite
FTS5 (`bm25`) on the embedded default; every other filter is the same SQL on both (see ADR 0030).

A page is one round trip: the filtered, ranked and limited rows first, and only for the rows of the
page the service's `assured_date` and its need slugs (so neither runs over every match). The
statement depends only on which filters a search uses, not on their values, so it is built once per
combination and executed with the values as parameters: building it per request cost about as much
Python time as the database spent on a need-category page.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    Subquery,
    bindparam,
    column,
    exists,
    func,
    literal_column,
    not_,
    select,
    table,
    union_all,
)
from sqlalchemy.orm import Session

from services.resources.domain.search import Circle, fts5_query
from services.resources.models import SERVICE, SERVICE_HOURS, SERVICE_NEED, SERVICE_POINT, SERVICE_SEARCH

_FTS = table("service_search_fts", column("rowid"), column("rank"))

# PostgreSQL ranks at most this many name matches plus this many other matches of a free-text query,
# the most recently (re)built search rows first (ADR 0030). Below the bound every match is ranked;
# above it a query is too broad for its ranking to mean much, and ranking every match would read a
# large part of the directory for each page.
TEXT_CANDIDATES = 500


@dataclass(frozen=True)
class SearchParams:
    text: str | None = None
    need: str | None = None
    organization_id: str | None = None
    open_at: tuple[int, int] | None = None  # (weekday, minute) in the directory's time zone
    circle: Circle | None = None
    capacity: str | None = None
    include_inactive: bool = False
    limit: int = 20
    offset: int = 0


@dataclass(frozen=True)
class Hit:
    service_id: str
    name: str
    organization_id: str
    organization_name: str
    status: str
    capacity: str
    assured_date: Any
    distance_km: float | None
    needs: list[str]


@dataclass(frozen=True)
class _Shape:
    """Which parts a search has: everything its statement depends on."""

    dialect: str
    text: bool
    need: bool
    organization: bool
    capacity: bool
    include_inactive: bool
    open_now: bool
    near: bool


def _filters(shape: _Shape) -> list[ColumnElement[bool]]:
    """Every condition but text and distance, on `service_search` (the same SQL on both databases)."""
    s = SERVICE_SEARCH
    conditions: list[ColumnElement[bool]] = []
    if shape.need:
        conditions.append(s.c.service_id.in_(
            select(SERVICE_NEED.c.service_id).where(SERVICE_NEED.c.need == bindparam("need"))))
    if shape.organization:
        conditions.append(s.c.organization_id == bindparam("organization_id"))
    if not shape.include_inactive:
        conditions.append(s.c.status == "active")
    if shape.capacity:
        conditions.append(s.c.capacity == bindparam("capacity"))
    if shape.open_now:
        h = SERVICE_HOURS
        conditions.append(exists().where(
            h.c.service_id == s.c.service_id, h.c.weekday == bindparam("weekday"),
            h.c.opens_minute <= bindparam("minute"), h.c.closes_minute > bindparam("minute")))
    return conditions


def _nearest() -> Subquery:
    """Squared distance (in degrees) to each service's nearest site inside the circle's bounding box."""
    p = SERVICE_POINT
    dlat = p.c.latitude - bindparam("latitude")
    dlon = (p.c.longitude - bindparam("longitude")) * bindparam("lon_scale")
    return (
        select(p.c.service_id, func.min(dlat * dlat + dlon * dlon).label("d2"))
        .where(p.c.latitude.between(bindparam("south"), bindparam("north")),
               p.c.longitude.between(bindparam("west"), bindparam("east")))
        .group_by(p.c.service_id)
        .subquery("nearest")
    )


def _postgresql_candidates(rows: Select[Any]) -> Select[Any]:
    """The matches of the text worth ranking, with `ts_rank` as `relevance`.

    Two bounded sets: rows whose service or organization name holds the words (what `ts_rank` weighs
    most, so the best hits of a broad query are not left out), and rows matching elsewhere. Each is
    walked newest first on `refresh_seq` and stops after TEXT_CANDIDATES rows: a total order, so every
    page of one query ranks the same candidates, and for a common word the walk reads about
    TEXT_CANDIDATES / (share of rows matching) rows instead of every match. For rare words PostgreSQL
    reads the few matches from the GIN indexes instead.
    """
    query = func.websearch_to_tsquery(literal_column("'english'::regconfig"), bindparam("text"))
    document: ColumnElement[Any] = literal_column("service_search.document")
    in_name = literal_column("service_search.name_document").op("@@")(query)
    newest: ColumnElement[Any] = literal_column("service_search.refresh_seq").desc()
    rows = rows.add_columns(document.label("document"))
    by_name = rows.where(in_name).order_by(newest).limit(TEXT_CANDIDATES)
    elsewhere = rows.where(document.op("@@")(query), not_(in_name)).order_by(newest).limit(TEXT_CANDIDATES)
    candidates = union_all(by_name, elsewhere).subquery("candidates")
    kept = [c for c in candidates.c if c.name != "document"]
    return select(*kept, func.ts_rank(candidates.c.document, query).label("relevance"))


@cache
def _statement(shape: _Shape) -> Select[Any]:
    s = SERVICE_SEARCH
    rows = select(s.c.service_id, s.c.name, s.c.organization_id, s.c.organization_name, s.c.status,
                  s.c.capacity).where(*_filters(shape))
    if shape.near:
        nearest = _nearest()
        rows = rows.join_from(s, nearest, nearest.c.service_id == s.c.service_id).where(
            nearest.c.d2 <= bindparam("radius_squared")).add_columns(nearest.c.d2)
    if shape.text:
        if shape.dialect == "postgresql":
            rows = _postgresql_candidates(rows)
        else:
            # bm25: lower is better; negated so that relevance sorts the same way on both databases
            rows = rows.join_from(s, _FTS, _FTS.c.rowid == literal_column("service_search.rowid")).where(
                literal_column("service_search_fts").op("MATCH")(bindparam("match"))
            ).add_columns((-_FTS.c.rank).label("relevance"))
    matches = rows.subquery("matches")

    def order(of: Subquery) -> list[Any]:
        keys: list[Any] = [of.c.relevance.desc()] if shape.text else []
        if shape.near:
            keys.append(of.c.d2)
        return [*keys, of.c.name, of.c.service_id]

    page = (
        select(matches).order_by(*order(matches))
        .limit(bindparam("page_rows", type_=Integer)).offset(bindparam("skip", type_=Integer))
        .subquery("page")
    )
    needs = (
        select(func.aggregate_strings(SERVICE_NEED.c.need, ","))
        .where(SERVICE_NEED.c.service_id == page.c.service_id)
        .scalar_subquery()
    )
    return (
        select(page, SERVICE.c.assured_date, needs.label("needs"))
        .join(SERVICE, SERVICE.c.id == page.c.service_id)
        .order_by(*order(page))
    )


def search_statement(params: SearchParams, dialect: str) -> tuple[Select[Any], dict[str, Any]] | None:
    """The one statement of a search page and its values, or None when the text has no word to search."""
    values: dict[str, Any] = {"page_rows": params.limit + 1, "skip": params.offset}
    if params.text:
        if dialect == "postgresql":
            values["text"] = params.text
        else:
            match = fts5_query(params.text)
            if match is None:
                return None
            values["match"] = match
    if params.need:
        values["need"] = params.need
    if params.organization_id:
        values["organization_id"] = params.organization_id
    if params.capacity:
        values["capacity"] = params.capacity
    if params.open_at is not None:
        values["weekday"], values["minute"] = params.open_at
    if params.circle is not None:
        c = params.circle
        south, north, west, east = c.box
        values.update(latitude=c.latitude, longitude=c.longitude, lon_scale=c.lon_scale, south=south,
                      north=north, west=west, east=east, radius_squared=c.radius_squared_degrees)
    shape = _Shape(
        dialect=dialect, text=bool(params.text), need=bool(params.need),
        organization=bool(params.organization_id), capacity=bool(params.capacity),
        include_inactive=params.include_inactive, open_now=params.open_at is not None,
        near=params.circle is not None,
    )
    return _statement(shape), values


def search_services(session: Session, params: SearchParams) -> tuple[list[Hit], bool]:
    """One page of hits, best first, and whether there is a next page."""
    prepared = search_statement(params, session.get_bind().dialect.name)
    if prepared is None:
        return [], False
    statement, values = prepared
    rows = session.execute(statement, values).all()
    hits = [
        Hit(
            service_id=r.service_id, name=r.name, organization_id=r.organization_id,
            organization_name=r.organization_name, status=r.status, capacity=r.capacity,
            assured_date=r.assured_date,
            distance_km=round(params.circle.km(r.d2), 3) if params.circle is not None else None,
            needs=sorted(r.needs.split(",")) if r.needs else [],
        )
        for r in rows[: params.limit]
    ]
    return hits, len(rows) > params.limit
