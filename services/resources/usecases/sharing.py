"""Data-sharing profiles (ADR 0070): which fields each partner organization receives from an agency.

One profile per agency and organization decides the partner's view everywhere: the partner API's referral
body, and the `partner_view` every partner-bound event carries to webhooks and the AMQP feed. Without a
stored profile the suite's safe default applies (`shared.disclosure.DEFAULT_PROFILE`). Which fields a profile
may name is `shared.disclosure`'s rule; a profile naming a field that never leaves is refused (422).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.resources.models import ORGANIZATION, SharingProfileRow
from services.resources.schemas import SharingProfileIn, SharingProfileOut
from shared import disclosure
from shared.extensions import AuditLog
from shared.http import Call
from shared.http.concurrency import etag, require_if_match
from shared.http.problems import Forbidden, NotFound


def profile_for(session: Session, agency: str, organization_id: str) -> disclosure.SharingProfile:
    """The profile in force for this agency and organization (the default when none is stored)."""
    row = session.get(SharingProfileRow, (agency, organization_id))
    if row is None:
        return disclosure.DEFAULT_PROFILE
    return disclosure.SharingProfile(frozenset(row.fields), frozenset(row.contact_methods))


def _require_organization(session: Session, organization_id: str) -> None:
    if session.execute(select(ORGANIZATION.c.id).where(ORGANIZATION.c.id == organization_id)).first() is None:
        raise NotFound("no such organization in the directory")


def _out(organization_id: str, row: SharingProfileRow | None) -> SharingProfileOut:
    if row is None:
        default = disclosure.DEFAULT_PROFILE
        return SharingProfileOut(organization_id=organization_id, fields=sorted(default.fields),
                                 contact_methods=sorted(default.contact_methods), source="default")
    return SharingProfileOut(organization_id=organization_id, fields=sorted(row.fields),
                             contact_methods=sorted(row.contact_methods), source="agency", version=row.version,
                             updated_by=row.updated_by, updated_at=row.updated_at)


def tag(call: Call, organization_id: str, row: SharingProfileRow | None) -> str:
    return etag(f"{call.agency}.{organization_id}", row.version if row is not None else 0)


def read(session: Session, call: Call, organization_id: str) -> tuple[SharingProfileOut, SharingProfileRow | None]:
    """The profile in force; a partner may read only its own organization's."""
    assert call.identity is not None
    if "partner" in call.identity.roles and call.identity.org != organization_id:
        raise NotFound("no such organization in the directory")
    _require_organization(session, organization_id)
    row = session.get(SharingProfileRow, (call.agency, organization_id))
    return _out(organization_id, row), row


def put(session: Session, audit: AuditLog, call: Call, organization_id: str, body: SharingProfileIn,
        now: dt.datetime) -> tuple[SharingProfileOut, SharingProfileRow]:
    """Set the profile (validated by `shared.disclosure`); changing a stored one needs If-Match."""
    assert call.identity is not None
    if "partner" in call.identity.roles:
        raise Forbidden("a partner cannot choose what it receives", slug="forbidden")
    _require_organization(session, organization_id)
    profile = disclosure.SharingProfile.of(body.fields, body.contact_methods)  # ProfileInvalid: 422
    row = session.get(SharingProfileRow, (call.agency, organization_id), with_for_update=True)
    if row is None:
        if call.if_match and call.if_match.strip() != "*":
            require_if_match(call, tag(call, organization_id, None))
        row = SharingProfileRow(agency_id=call.agency, organization_id=organization_id, version=0)
        session.add(row)
    else:
        require_if_match(call, tag(call, organization_id, row))
    before = sorted(row.fields or [])
    row.fields, row.contact_methods = sorted(profile.fields), sorted(profile.contact_methods)
    row.version = (row.version or 0) + 1
    row.updated_by, row.updated_at = call.actor, now
    audit.record(call, "sharing_profile.set", "sharing_profile", organization_id,
                 detail={"fields": row.fields, "contact_methods": row.contact_methods, "before": before})
    session.flush()
    return _out(organization_id, row), row
