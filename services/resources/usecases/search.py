"""The staff API's service search: a query's filters as `SearchParams`, one page of ranked hits."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from services.resources.domain.search import Circle, local_moment
from services.resources.schemas import ServiceSearchQuery
from services.resources.search import Hit, SearchParams, search_services


def search_params(query: ServiceSearchQuery, timezone: str, now: dt.datetime, offset: int) -> SearchParams:
    """What a search asks for; "open now" is the moment's weekday and minute in the directory's zone."""
    open_at = local_moment(query.at or now, timezone) if query.open_now else None
    circle = Circle(query.lat, query.lon, query.radius_km) if query.lat is not None and query.lon is not None \
        else None
    return SearchParams(
        text=query.q.strip() if query.q and query.q.strip() else None, need=query.need,
        organization_id=query.organization_id, open_at=open_at, circle=circle, capacity=query.capacity,
        include_inactive=query.include_inactive, limit=query.limit, offset=offset,
    )


def search(session: Session, query: ServiceSearchQuery, timezone: str, now: dt.datetime,
           offset: int) -> tuple[list[Hit], bool]:
    """One page of hits, best first, and whether there is a next page."""
    return search_services(session, search_params(query, timezone, now, offset))
