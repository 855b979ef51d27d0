"""The directory's staff API: organizations, services and where they are offered, taxonomy terms, listings' upkeep."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from services.resources.directory import export_hsds
from services.resources.domain.listings import assurance
from services.resources.domain.ownership import is_directory_admin, may_edit_listing
from services.resources.models import (
    ADDRESS,
    DIRECTORY_STEWARD,
    LOCATION,
    ORGANIZATION,
    SERVICE,
    SERVICE_AT_LOCATION,
    TAXONOMY_TERM,
)
from services.resources.schemas import (
    OrganizationQuery,
    ServiceAtLocationQuery,
    ServicePatch,
    StaleListingsQuery,
    TaxonomyTermQuery,
)
from services.resources.store import load_directory, refresh_search
from shared.extensions import AuditLog
from shared.http import Call
from shared.http.concurrency import etag, require_if_match
from shared.http.pagination import paginate
from shared.http.problems import Conflict, Forbidden, NotFound

Rows = tuple[list[Any], str | None]


def list_organizations(session: Session, call: Call, query: OrganizationQuery) -> Rows:
    o = ORGANIZATION
    statement = select(o.c.id, o.c.name, o.c.alternate_name, o.c.description, o.c.email, o.c.website)
    if query.search:
        statement = statement.where(o.c.name.ilike(f"%{query.search}%"))
    return paginate(session, call, statement, order=(o.c.name, o.c.id), key=lambda row: (row["name"], row["id"]),
                    scalars=False)


def organization_document(session: Session, organization_id: str) -> dict[str, Any]:
    """One organization as an HSDS 3.0 document (its services and locations nested)."""
    documents = export_hsds(load_directory(session, [organization_id]), validate=False)
    if not documents:
        raise NotFound("no such organization")
    return documents[0]


def service_row(session: Session, service_id: str) -> Any:
    row = session.execute(select(SERVICE).where(SERVICE.c.id == service_id)).mappings().first()
    if row is None:
        raise NotFound("no such service")
    return row


def service_document(session: Session, service_id: str) -> tuple[dict[str, Any], str]:
    """One service as an HSDS 3.0 document with its capacity flag and SLA, and its ETag."""
    row = service_row(session, service_id)
    directory = load_directory(session, [row["organization_id"]])
    organization = export_hsds(directory, validate=False)[0]
    document = next(s for s in organization.get("services", []) if s["id"] == service_id)
    document["organization"] = {k: v for k, v in organization.items() if not isinstance(v, list)}
    document.setdefault("organization_id", row["organization_id"])  # implied by nesting in the export
    document["capacity"] = row["capacity"]
    document["referral_sla_hours"] = row["referral_sla_hours"]
    return document, etag(service_id, row["version"])


def set_steward(session: Session, call: Call, organization_id: str, agency_id: str, platform_agency: str,
                now: dt.datetime) -> None:
    """Name the agency whose partner logins speak for the organization (a directory_admin of the deployment)."""
    assert call.identity is not None
    if not is_directory_admin(call.identity, platform_agency):
        raise Forbidden("directory_admin counts only in the deployment's operator tenant", slug="not-directory-admin")
    if session.execute(select(ORGANIZATION.c.id).where(ORGANIZATION.c.id == organization_id)).first() is None:
        raise NotFound("no such organization")
    session.execute(delete(DIRECTORY_STEWARD).where(DIRECTORY_STEWARD.c.organization_id == organization_id))
    session.execute(insert(DIRECTORY_STEWARD).values(organization_id=organization_id, agency_id=agency_id,
                                                     assigned_by=call.actor, assigned_at=now))


def update_service(session: Session, audit: AuditLog, call: Call, service_id: str, patch: ServicePatch,
                   platform_agency: str, now: dt.datetime) -> None:
    """Change a listing (who may: `domain.ownership`), under If-Match; its search rows follow."""
    assert call.identity is not None
    row = service_row(session, service_id)
    steward = session.execute(select(DIRECTORY_STEWARD.c.agency_id).where(
        DIRECTORY_STEWARD.c.organization_id == row["organization_id"])).scalar()
    verdict = may_edit_listing(call.identity, row["organization_id"], steward, platform_agency)
    if not verdict.allowed:
        audit.record_now(call, "service.update", "service", service_id, detail={"reason": verdict.reason},
                         outcome="denied")
        raise Forbidden(verdict.reason, slug="not-your-listing")
    require_if_match(call, etag(service_id, row["version"]))
    values: dict[str, Any] = patch.model_dump(exclude_unset=True, exclude={"assured", "assurer_email"})
    values.update(assurance(patch.assured, patch.assurer_email, row["assurer_email"], dt.date.today()))
    values["last_modified"] = now
    values["version"] = row["version"] + 1
    changed = cast(CursorResult[Any], session.execute(
        update(SERVICE).where(SERVICE.c.id == service_id, SERVICE.c.version == row["version"]).values(**values)
    )).rowcount
    if changed != 1:
        raise Conflict("someone changed this listing at the same moment; read it again", slug="edit-conflict")
    refresh_search(session, [service_id])


def list_service_at_locations(session: Session, call: Call, query: ServiceAtLocationQuery) -> Rows:
    sal, s, o, loc, a = SERVICE_AT_LOCATION, SERVICE, ORGANIZATION, LOCATION, ADDRESS
    address = (
        select(a.c.address_1 + ", " + a.c.city + ", " + a.c.state_province + " " + a.c.postal_code)
        .where(a.c.location_id == loc.c.id).order_by(a.c.id).limit(1).scalar_subquery()
    )
    statement = (
        select(sal.c.id, sal.c.service_id, s.c.name.label("service_name"), s.c.organization_id,
               o.c.name.label("organization_name"), sal.c.location_id, loc.c.name.label("location_name"),
               address.label("address"), loc.c.latitude, loc.c.longitude)
        .join(s, s.c.id == sal.c.service_id).join(o, o.c.id == s.c.organization_id)
        .join(loc, loc.c.id == sal.c.location_id)
    )
    if query.service_id:
        statement = statement.where(sal.c.service_id == query.service_id)
    if query.organization_id:
        statement = statement.where(s.c.organization_id == query.organization_id)
    return paginate(session, call, statement, order=(o.c.name, s.c.name, sal.c.id),
                    key=lambda r: (r["organization_name"], r["service_name"], r["id"]), scalars=False)


def list_taxonomy_terms(session: Session, call: Call, query: TaxonomyTermQuery) -> Rows:
    t = TAXONOMY_TERM
    statement = select(t.c.id, t.c.code, t.c.name, t.c.description, t.c.taxonomy, t.c.taxonomy_id, t.c.parent_id)
    if query.taxonomy:
        statement = statement.where(t.c.taxonomy == query.taxonomy)
    return paginate(session, call, statement, order=(t.c.taxonomy, t.c.name, t.c.id),
                    key=lambda r: (r["taxonomy"], r["name"], r["id"]), scalars=False)


def stale_listings(session: Session, call: Call, query: StaleListingsQuery, today: dt.date) -> Rows:
    """Services not verified in `query.days` days, never-verified first, then the oldest verification."""
    assert call.identity is not None
    s, o = SERVICE, ORGANIZATION
    cutoff = today - dt.timedelta(days=query.days)
    assured = func.coalesce(s.c.assured_date, dt.date(1, 1, 1))  # never-verified first
    statement = (
        select(s.c.id.label("service_id"), s.c.name.label("service_name"), s.c.organization_id,
               o.c.name.label("organization_name"), s.c.assured_date, assured.label("assured_key"))
        .join(o, o.c.id == s.c.organization_id)
        .where(or_(s.c.assured_date.is_(None), s.c.assured_date < cutoff))
    )
    if not call.identity.has_any({"supervisor", "admin"}):
        statement = statement.where(s.c.organization_id == (call.identity.org or ""))
    return paginate(session, call, statement, order=(assured, o.c.name, s.c.name, s.c.id),
                    key=lambda r: (r["assured_key"], r["organization_name"], r["service_name"], r["service_id"]),
                    scalars=False)
