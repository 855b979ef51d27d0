"""Directory search in SQL: filters, ranking and paging over the `service_search*` rows.

Full text is PostgreSQL `tsvector` (GIN, `websearch_to_tsquery`, `ts_rank`) in production and SQLite
FTS5 (`bm25`) on the embedded default; every other filter is the same SQL on both (see ADR 0030).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, column, exists, func, literal_column, select, table
from sqlalchemy.orm import Session

from services.resources.domain.search import Circle, fts5_query
from services.resources.models import SERVICE, SERVICE_HOURS, SERVICE_NEED, SERVICE_POINT, SERVICE_SEARCH

_FTS = table("service_search_fts", column("rowid"), column("rank"))


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


def build_query(params: SearchParams, dialect: str) -> Select[Any] | None:
    """The ranked statement (page bounds included), or None when the text has no searchable word."""
    s = SERVICE_SEARCH
    columns: list[Any] = [s.c.service_id, s.c.name, s.c.organization_id, s.c.organization_name, s.c.status,
                          s.c.capacity, SERVICE.c.assured_date]
    order: list[Any] = []
    statement = select().select_from(s).join(SERVICE, SERVICE.c.id == s.c.service_id)
    if params.text:
        if dialect == "postgresql":
            query = func.websearch_to_tsquery(literal_column("'english'::regconfig"), params.text)
            document: Any = literal_column("service_search.document")
            statement = statement.where(document.op("@@")(query))
            order.append(func.ts_rank(document, query).desc())
        else:
            match = fts5_query(params.text)
            if match is None:
                return None
            statement = statement.join(_FTS, _FTS.c.rowid == literal_column("service_search.rowid")).where(
                literal_column("service_search_fts").op("MATCH")(match))
            order.append(_FTS.c.rank)  # bm25: lower is better
    if params.need:
        statement = statement.where(s.c.service_id.in_(
            select(SERVICE_NEED.c.service_id).where(SERVICE_NEED.c.need == params.need)))
    if params.organization_id:
        statement = statement.where(s.c.organization_id == params.organization_id)
    if not params.include_inactive:
        statement = statement.where(s.c.status == "active")
    if params.capacity:
        statement = statement.where(s.c.capacity == params.capacity)
    if params.open_at is not None:
        weekday, minute = params.open_at
        h = SERVICE_HOURS
        statement = statement.where(exists().where(
            h.c.service_id == s.c.service_id, h.c.weekday == weekday, h.c.opens_minute <= minute,
            h.c.closes_minute > minute))
    if params.circle is not None:
        c = params.circle
        p = SERVICE_POINT
        south, north, west, east = c.box
        dlat = p.c.latitude - c.latitude
        dlon = (p.c.longitude - c.longitude) * c.lon_scale
        nearest = (
            select(p.c.service_id, func.min(dlat * dlat + dlon * dlon).label("d2"))
            .where(p.c.latitude.between(south, north), p.c.longitude.between(west, east))
            .group_by(p.c.service_id)
            .subquery("nearest")
        )
        statement = statement.join(nearest, nearest.c.service_id == s.c.service_id).where(
            nearest.c.d2 <= c.radius_squared_degrees)
        columns.append(nearest.c.d2)
        order.append(nearest.c.d2)
    order += [s.c.name, s.c.service_id]
    return statement.add_columns(*columns).order_by(*order).limit(params.limit + 1).offset(params.offset)


def search_services(session: Session, params: SearchParams) -> tuple[list[Hit], bool]:
    """One page of hits, best first, and whether there is a next page."""
    bind = session.get_bind()
    statement = build_query(params, bind.dialect.name)
    if statement is None:
        return [], False
    rows = session.execute(statement).all()
    more = len(rows) > params.limit
    rows = rows[: params.limit]
    needs: dict[str, list[str]] = {}
    if rows:
        for need, service_id in session.execute(
            select(SERVICE_NEED.c.need, SERVICE_NEED.c.service_id)
            .where(SERVICE_NEED.c.service_id.in_([r.service_id for r in rows])).order_by(SERVICE_NEED.c.need)
        ):
            needs.setdefault(service_id, []).append(need)
    hits = [
        Hit(
            service_id=r.service_id, name=r.name, organization_id=r.organization_id,
            organization_name=r.organization_name, status=r.status, capacity=r.capacity,
            assured_date=r.assured_date,
            distance_km=round(params.circle.km(r.d2), 3) if params.circle is not None else None,
            needs=needs.get(r.service_id, []),
        )
        for r in rows
    ]
    return hits, more
