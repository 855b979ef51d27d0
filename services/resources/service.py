"""resources: the HSDS directory of community services (search, listings) and closed-loop service referrals."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any, Literal, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from nameko.exceptions import UnknownService
from nameko.extensions import DependencyProvider
from nameko.timer import Timer
from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict
from sqlalchemy import Table, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from services.resources.directory import export_hsds
from services.resources.domain.ownership import is_directory_admin, may_edit_listing
from services.resources.domain.referrals import (
    Actor,
    InvalidTransition,
    ReasonCodeRequired,
    Status,
    allowed_next,
    check_transition,
    disclosed_categories,
    respond_by,
)
from services.resources.domain.search import Circle, local_moment
from services.resources.hsds_api import HsdsApi, HsdsSettings
from services.resources.models import (
    ADDRESS,
    DIRECTORY_STEWARD,
    LOCATION,
    ORGANIZATION,
    SERVICE,
    SERVICE_AT_LOCATION,
    TAXONOMY_TERM,
    ServiceReferral,
    ServiceReferralHistory,
)
from services.resources.schemas import (
    ConsentScope,
    OrganizationOut,
    OrganizationQuery,
    OrganizationRef,
    ParticipantContact,
    PartnerServiceReferralOut,
    ServiceAtLocationOut,
    ServiceAtLocationQuery,
    ServiceHit,
    ServicePatch,
    ServiceReferralCreate,
    ServiceReferralHistoryOut,
    ServiceReferralOut,
    ServiceReferralQuery,
    ServiceReferralStatusChange,
    ServiceSearchQuery,
    StaleListingOut,
    StaleListingsQuery,
    StewardIn,
    StewardOut,
    TaxonomyTermOut,
    TaxonomyTermQuery,
)
from services.resources.search import SearchParams, search_services
from services.resources.store import load_directory, refresh_search
from shared.audit import write_audit, write_audit_now
from shared.config import SETTINGS_KEY, Settings
from shared.db import Database
from shared.http import Call, api
from shared.http.api import ApiResponse
from shared.http.concurrency import etag, require_if_match
from shared.http.pagination import Page, Pager
from shared.http.problems import (
    Conflict,
    Forbidden,
    NotFound,
    ServiceUnavailable,
    UnprocessableContent,
    register_problem,
)
from shared.idempotency import remember, replay
from shared.messaging import Outbox, RemoteError, RpcProxy, RpcTimeout, new_event
from shared.messaging.catalog import (
    PartnerContact,
    PartnerReferralPayload,
    ServiceReferralEscalated,
    ServiceReferralRequested,
    ServiceReferralStatusChanged,
)
from shared.service import ServiceBase

log = logging.getLogger(__name__)

ANY_ROLE = {"screener", "case_manager", "supervisor", "partner", "admin", "auditor", "directory_admin"}
STAFF = {"case_manager", "supervisor", "admin"}
REFERRAL_READERS = STAFF | {"partner"}
CREATE_SCOPE = "service_referral.create"

register_problem(InvalidTransition, 409, "invalid-transition", "The service referral cannot move to that status")
register_problem(ReasonCodeRequired, 422, "reason-code-required", "A reason code is required")


class ResourcesSettings(HsdsSettings):
    """resources' own settings (`DIVERSION_RESOURCES_*`; the HSDS profile's `..._HSDS_*` among them)."""

    model_config = SettingsConfigDict(env_prefix="DIVERSION_RESOURCES_", extra="ignore")

    referral_sla_hours: float = Field(default=48.0, ge=0, le=24 * 30,
                                      description="hours a partner has to acknowledge a referral")
    escalation_interval_seconds: float = Field(default=60.0, gt=0, le=3600)
    timezone: str = Field(default="America/Chicago", description="the directory's local time (opening hours)")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("not an IANA time zone such as America/Chicago") from None
        return value


SETTINGS_CLASS = ResourcesSettings


def _resources_settings(container: Any) -> ResourcesSettings:
    settings: Settings | None = container.config.get(SETTINGS_KEY)
    extra = settings.extra if settings is not None else None
    return extra if isinstance(extra, ResourcesSettings) else ResourcesSettings()


class ResourcesConfig(DependencyProvider):
    """Injects the service's own settings."""

    def setup(self) -> None:
        self.settings = _resources_settings(self.container)

    def get_dependency(self, worker_ctx: Any) -> ResourcesSettings:
        return self.settings


class EscalationTimer(Timer):
    """nameko's timer, its interval read from settings at setup (tests run it every fraction of a second)."""

    def __init__(self, interval: float = 60.0, **kwargs: Any) -> None:
        super().__init__(interval, **kwargs)

    def setup(self) -> None:
        self.interval = _resources_settings(self.container).escalation_interval_seconds
        super().setup()


escalation_timer = EscalationTimer.decorator


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


class ResourcesService(HsdsApi, ServiceBase):
    """The community resource directory (HSDS 3.0) and closed-loop service referrals to partners."""

    name = "resources"
    api_tags = {
        "directory": "The community resource directory (HSDS 3.0): organizations, services, locations, taxonomy.",
        "service referrals": "Closed-loop referrals of participants to partners' services, with their history.",
    }
    db = Database()
    outbox = Outbox()
    casework = RpcProxy("casework")
    config = ResourcesConfig()

    # -- directory: organizations -------------------------------------------------------------------

    @api("GET", "/v1/organizations", roles=ANY_ROLE, query=OrganizationQuery, response=Page[OrganizationOut],
         tags=["directory"], summary="Organizations of the directory, by name")
    def list_organizations(self, call: Call) -> Page[OrganizationOut]:
        query: OrganizationQuery = call.query
        o = ORGANIZATION
        statement = select(o.c.id, o.c.name, o.c.alternate_name, o.c.description, o.c.email, o.c.website)
        if query.search:
            statement = statement.where(o.c.name.ilike(f"%{query.search}%"))
        pager = Pager(call, o.c.name, o.c.id)
        rows, next_cursor = pager.page(self.db.execute(pager.apply(statement)).mappings().all(),
                                       key=lambda row: (row["name"], row["id"]))
        items = [OrganizationOut.model_validate(dict(row)) for row in rows]
        return Page[OrganizationOut](items=items, next_cursor=next_cursor)

    @api("GET", "/v1/organizations/<organization_id>", roles=ANY_ROLE, response=dict[str, Any],
         tags=["directory"], summary="One organization as an HSDS 3.0 document (services, locations nested)")
    def get_organization(self, call: Call, organization_id: str) -> dict[str, Any]:
        documents = export_hsds(load_directory(self.db, [organization_id]), validate=False)
        if not documents:
            raise NotFound("no such organization")
        return documents[0]

    # -- directory: services ------------------------------------------------------------------------

    @api("GET", "/v1/services", roles=ANY_ROLE, query=ServiceSearchQuery, response=Page[ServiceHit],
         tags=["directory"],
         summary="Search services: need category, free text, organization, open now, distance; ranked, paged")
    def search_services(self, call: Call) -> Page[ServiceHit]:
        query: ServiceSearchQuery = call.query
        pager = Pager(call, offset=True)  # ranked by relevance and distance: a signed offset
        offset = pager.offset
        open_at = None
        if query.open_now:
            open_at = local_moment(query.at or _now(), self.config.timezone)
        circle = Circle(query.lat, query.lon, query.radius_km) if query.lat is not None and query.lon is not None \
            else None
        params = SearchParams(
            text=query.q.strip() if query.q and query.q.strip() else None, need=query.need,
            organization_id=query.organization_id, open_at=open_at, circle=circle, capacity=query.capacity,
            include_inactive=query.include_inactive, limit=query.limit, offset=offset,
        )
        hits, more = search_services(self.db, params)
        items = [
            ServiceHit(
                id=h.service_id, name=h.name, organization=OrganizationRef(id=h.organization_id,
                                                                           name=h.organization_name),
                status=h.status, capacity=h.capacity,  # type: ignore[arg-type]
                need_categories=h.needs, assured_date=h.assured_date, distance_km=h.distance_km,
            )
            for h in hits
        ]
        return Page[ServiceHit](items=items, next_cursor=pager.next_offset(len(items), more))

    def _service_row(self, service_id: str) -> Any:
        row = self.db.execute(select(SERVICE).where(SERVICE.c.id == service_id)).mappings().first()
        if row is None:
            raise NotFound("no such service")
        return row

    def _service_document(self, service_id: str) -> ApiResponse:
        row = self._service_row(service_id)
        directory = load_directory(self.db, [row["organization_id"]])
        organization = export_hsds(directory, validate=False)[0]
        document = next(s for s in organization.get("services", []) if s["id"] == service_id)
        document["organization"] = {k: v for k, v in organization.items() if not isinstance(v, list)}
        document.setdefault("organization_id", row["organization_id"])  # implied by nesting in the export
        document["capacity"] = row["capacity"]
        document["referral_sla_hours"] = row["referral_sla_hours"]
        return ApiResponse(document, headers={"ETag": etag(service_id, row["version"])})

    @api("GET", "/v1/services/<service_id>", roles=ANY_ROLE, response=dict[str, Any], tags=["directory"],
         summary="One service as an HSDS 3.0 document, with its capacity flag and an ETag")
    def get_service(self, call: Call, service_id: str) -> ApiResponse:
        return self._service_document(service_id)

    def _platform_agency(self) -> str:
        return self.ops.settings.common.platform_agency

    @api("PUT", "/v1/organizations/<organization_id>/steward", roles={"directory_admin"}, body=StewardIn,
         response=StewardOut, tags=["directory"],
         summary="Name the agency whose partner logins may edit this organization's listings (directory_admin "
                 "of the deployment)")
    def set_steward(self, call: Call, organization_id: str) -> StewardOut:
        assert call.identity is not None
        body: StewardIn = call.body
        if not is_directory_admin(call.identity, self._platform_agency()):
            raise Forbidden("directory_admin counts only in the deployment's operator tenant",
                            slug="not-directory-admin")
        if self.db.execute(select(ORGANIZATION.c.id).where(ORGANIZATION.c.id == organization_id)).first() is None:
            raise NotFound("no such organization")
        now = _now()
        self.db.execute(delete(DIRECTORY_STEWARD).where(DIRECTORY_STEWARD.c.organization_id == organization_id))
        self.db.execute(insert(DIRECTORY_STEWARD).values(organization_id=organization_id, agency_id=body.agency_id,
                                                         assigned_by=call.actor, assigned_at=now))
        write_audit(self.db, service=self.name, action="organization.steward_set", outcome="success",
                    identity=call.identity, resource_type="organization", resource_id=organization_id,
                    source_ip=call.remote_addr, request_id=call.request_id, detail={"agency_id": body.agency_id})
        self.db.commit()
        return StewardOut(organization_id=organization_id, agency_id=body.agency_id, assigned_by=call.actor,
                          assigned_at=now)

    @api("PATCH", "/v1/services/<service_id>", roles={"partner", "directory_admin"}, body=ServicePatch,
         response=dict[str, Any], required_headers=["If-Match"], errors=[412, 428], tags=["directory"],
         summary="Update a listing (the deployment's directory_admin; a partner only its own organization's, "
                 "from its steward agency), set capacity, confirm it (assured)")
    def update_service(self, call: Call, service_id: str) -> ApiResponse:
        assert call.identity is not None
        patch: ServicePatch = call.body
        row = self._service_row(service_id)
        steward = self.db.execute(select(DIRECTORY_STEWARD.c.agency_id).where(
            DIRECTORY_STEWARD.c.organization_id == row["organization_id"])).scalar()
        verdict = may_edit_listing(call.identity, row["organization_id"], steward, self._platform_agency())
        if not verdict.allowed:
            write_audit_now(self.db.get_bind(), service=self.name, action="service.update", outcome="denied",
                            identity=call.identity, resource_type="service", resource_id=service_id,
                            source_ip=call.remote_addr, request_id=call.request_id,
                            detail={"reason": verdict.reason})
            raise Forbidden(verdict.reason, slug="not-your-listing")
        require_if_match(call, etag(service_id, row["version"]))
        values: dict[str, Any] = patch.model_dump(exclude_unset=True, exclude={"assured", "assurer_email"})
        if patch.assured:
            values["assured_date"] = dt.date.today()
            values["assurer_email"] = patch.assurer_email or row["assurer_email"]
        elif patch.assurer_email is not None:
            values["assurer_email"] = patch.assurer_email
        values["last_modified"] = _now()
        values["version"] = row["version"] + 1
        changed = self.db.execute(
            update(SERVICE).where(SERVICE.c.id == service_id, SERVICE.c.version == row["version"]).values(**values)
        ).rowcount
        if changed != 1:
            raise Conflict("someone changed this listing at the same moment; read it again", slug="edit-conflict")
        refresh_search(self.db, [service_id])
        write_audit(self.db, service=self.name, action="service.updated", outcome="success", identity=call.identity,
                    resource_type="service", resource_id=service_id, source_ip=call.remote_addr,
                    request_id=call.request_id, detail={"fields": sorted(patch.model_fields_set)})
        self.db.commit()
        return self._service_document(service_id)

    @api("GET", "/v1/service_at_locations", roles=ANY_ROLE, query=ServiceAtLocationQuery,
         response=Page[ServiceAtLocationOut], tags=["directory"], summary="Where each service is offered")
    def list_service_at_locations(self, call: Call) -> Page[ServiceAtLocationOut]:
        query: ServiceAtLocationQuery = call.query
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
        pager = Pager(call, o.c.name, s.c.name, sal.c.id)
        rows, next_cursor = pager.page(self.db.execute(pager.apply(statement)).mappings().all(),
                                       key=lambda r: (r["organization_name"], r["service_name"], r["id"]))
        items = [ServiceAtLocationOut.model_validate(dict(r)) for r in rows]
        return Page[ServiceAtLocationOut](items=items, next_cursor=next_cursor)

    @api("GET", "/v1/taxonomy_terms", roles=ANY_ROLE, query=TaxonomyTermQuery, response=Page[TaxonomyTermOut],
         tags=["directory"], summary="Taxonomy terms (the need categories are taxonomy diversion-needs)")
    def list_taxonomy_terms(self, call: Call) -> Page[TaxonomyTermOut]:
        query: TaxonomyTermQuery = call.query
        t = TAXONOMY_TERM
        statement = select(t.c.id, t.c.code, t.c.name, t.c.description, t.c.taxonomy, t.c.taxonomy_id, t.c.parent_id)
        if query.taxonomy:
            statement = statement.where(t.c.taxonomy == query.taxonomy)
        pager = Pager(call, t.c.taxonomy, t.c.name, t.c.id)
        rows, next_cursor = pager.page(self.db.execute(pager.apply(statement)).mappings().all(),
                                       key=lambda r: (r["taxonomy"], r["name"], r["id"]))
        items = [TaxonomyTermOut.model_validate(dict(r)) for r in rows]
        return Page[TaxonomyTermOut](items=items, next_cursor=next_cursor)

    @api("GET", "/v1/reports/stale-listings", roles={"supervisor", "admin", "partner"}, query=StaleListingsQuery,
         response=Page[StaleListingOut], tags=["directory"],
         summary="Services not verified (HSDS assured_date) in N days; a partner sees its own")
    def stale_listings(self, call: Call) -> Page[StaleListingOut]:
        assert call.identity is not None
        query: StaleListingsQuery = call.query
        s, o = SERVICE, ORGANIZATION
        today = dt.date.today()
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
        # Never-verified first, then the oldest verification.
        pager = Pager(call, assured, o.c.name, s.c.name, s.c.id)
        rows, next_cursor = pager.page(
            self.db.execute(pager.apply(statement)).mappings().all(),
            key=lambda r: (r["assured_key"], r["organization_name"], r["service_name"], r["service_id"]))
        items = [
            StaleListingOut(**{k: v for k, v in r.items() if k != "assured_key"},
                            days_since_assured=(today - r["assured_date"]).days if r["assured_date"] else None)
            for r in rows
        ]
        return Page[StaleListingOut](items=items, next_cursor=next_cursor)

    # -- service referrals --------------------------------------------------------------------------

    @staticmethod
    def _actor(call: Call) -> Actor:
        assert call.identity is not None
        return Actor.AGENCY if call.identity.has_any(STAFF) else Actor.PARTNER

    def _referral_view(self, ref: ServiceReferral, actor: Actor) -> PartnerServiceReferralOut:
        common: dict[str, Any] = {
            "id": ref.id, "service_id": ref.service_id, "organization_id": ref.organization_id,
            "status": ref.status, "reason_code": ref.reason_code, "participant_name": ref.participant_name,
            "contact": ParticipantContact(phone=ref.phone, email=ref.email,
                                          preferred_language=ref.preferred_language),
            "need": ref.need, "need_category": ref.need_category,
            "appointment_preference": ref.appointment_preference,
            "redisclosure_notice": ref.redisclosure_notice, "requested_at": _aware(ref.requested_at),
            "respond_by": _aware(ref.respond_by), "updated_at": _aware(ref.updated_at),
            "allowed_next": allowed_next(Status(ref.status), actor),
        }
        if actor is Actor.PARTNER:
            return PartnerServiceReferralOut(**common)
        return ServiceReferralOut(
            **common, case_id=ref.case_id, participant_id=ref.participant_id, consent_id=ref.consent_id,
            consent=ConsentScope(categories=ref.consent_categories, purpose=ref.consent_purpose),  # type: ignore[arg-type]
            note=ref.note, requested_by=ref.requested_by,
            escalated_at=_aware(ref.escalated_at) if ref.escalated_at else None,
        )

    def _referrals(self, call: Call) -> Any:
        """Referrals the caller may see: its agency's; a partner only those addressed to its organization."""
        assert call.identity is not None
        statement = select(ServiceReferral).where(ServiceReferral.agency_id == call.agency)
        if self._actor(call) is Actor.PARTNER:
            statement = statement.where(ServiceReferral.organization_id == (call.identity.org or "\x00"))
        return statement

    def _load_referral(self, call: Call, referral_id: str, *, lock: bool = False) -> ServiceReferral:
        statement = self._referrals(call).where(ServiceReferral.id == referral_id)
        if lock:
            statement = statement.with_for_update()
        ref = self.db.scalars(statement).first()
        if ref is None:
            raise NotFound("no such service referral")
        return ref

    def _audit_read(self, call: Call, resource_id: str | None, detail: dict[str, Any]) -> None:
        write_audit_now(self.db.get_bind(), service=self.name, action="service_referral.read", outcome="success",
                        identity=call.identity, resource_type="service_referral", resource_id=resource_id,
                        source_ip=call.remote_addr, request_id=call.request_id, detail=detail)

    def _audit_refusal(self, call: Call, outcome: Literal["failure", "denied"], detail: dict[str, Any]) -> None:
        write_audit_now(self.db.get_bind(), service=self.name, action="service_referral.create", outcome=outcome,
                        identity=call.identity, resource_type="service_referral", resource_id=None,
                        source_ip=call.remote_addr, request_id=call.request_id, detail=detail)

    @api("POST", "/v1/service-referrals", roles={"case_manager", "supervisor"}, body=ServiceReferralCreate,
         response=ServiceReferralOut, status=201, headers=["Idempotency-Key"], errors=[409, 503],
         tags=["service referrals"],
         summary="Refer a participant to a partner's service; casework must confirm a covering consent first")
    def create_service_referral(self, call: Call) -> Any:
        assert call.identity is not None
        replayed = replay(self.db, call, CREATE_SCOPE)
        if replayed is not None:
            return replayed
        body: ServiceReferralCreate = call.body
        service = self.db.execute(select(SERVICE).where(SERVICE.c.id == body.service_id)).mappings().first()
        if service is None:
            raise UnprocessableContent("no such service in the directory", slug="unknown-service",
                                       errors=[{"field": "service_id", "message": "unknown service",
                                                "type": "unknown"}])
        if service["status"] != "active" or service["capacity"] == "closed":
            raise Conflict(f"the service is {service['status'] if service['status'] != 'active' else 'closed'} "
                           "and takes no referrals", slug="service-not-accepting")
        categories = disclosed_categories(list(body.consent.categories))
        today = dt.date.today()
        try:
            answer = self.casework.consent_covers(
                participant_id=body.participant_id, recipient_org=service["organization_id"],
                categories=categories, purpose=body.consent.purpose, on_date=today.isoformat(),
            )
        except (RpcTimeout, RemoteError, UnknownService) as exc:
            self._audit_refusal(call, "failure", {"reason": "consent check unavailable",
                                                  "error": type(exc).__name__})
            raise ServiceUnavailable("the consent check (casework) did not answer; nothing was sent, try again",
                                     slug="consent-check-unavailable", headers={"Retry-After": "30"}) from None
        if not isinstance(answer, dict) or not answer.get("covered") or not answer.get("consent_id"):
            reason = str(answer.get("reason", "")) if isinstance(answer, dict) else "invalid answer"
            self._audit_refusal(call, "denied", {"reason": "consent-required", "detail": reason[:300],
                                                 "categories": categories, "purpose": body.consent.purpose})
            raise Forbidden(
                f"no consent on record covers sharing {', '.join(categories)} with this organization for "
                f"{body.consent.purpose}: {reason or 'not covered'}; nothing was sent",
                slug="consent-required", reason=reason, categories=categories,
            )
        now = _now()
        sla = service["referral_sla_hours"] if service["referral_sla_hours"] is not None \
            else self.config.referral_sla_hours
        ref = ServiceReferral(
            id=str(uuid.uuid4()), agency_id=call.agency, case_id=body.case_id, participant_id=body.participant_id,
            participant_name=body.participant_name, phone=body.contact.phone,
            email=str(body.contact.email) if body.contact.email else None,
            preferred_language=body.contact.preferred_language, need=body.need, need_category=body.need_category,
            appointment_preference=body.appointment_preference, service_id=body.service_id,
            organization_id=service["organization_id"], consent_id=str(answer["consent_id"]),
            consent_categories=categories, consent_purpose=body.consent.purpose,
            redisclosure_notice=str(answer.get("notice") or ""), status=Status.REQUESTED.value, version=1,
            requested_by=call.actor, requested_at=now, respond_by=respond_by(now, sla), updated_at=now,
        )
        self.db.add(ref)
        self._history(ref, None, call, now)
        self.outbox.record(self.db, new_event(ServiceReferralRequested(
            service_referral_id=ref.id, organization_id=ref.organization_id, service_id=ref.service_id,
            consent_id=ref.consent_id, requested_at=now, respond_by=ref.respond_by,
            partner=PartnerReferralPayload(
                participant_name=ref.participant_name,
                contact=PartnerContact(phone=ref.phone, email=ref.email, preferred_language=ref.preferred_language),
                need=ref.need, appointment_preference=ref.appointment_preference, need_category=ref.need_category,
                redisclosure_notice=ref.redisclosure_notice or None,
            ),
        ), subject=ref.id, tenantid=call.agency))
        write_audit(self.db, service=self.name, action="service_referral.created", outcome="success",
                    identity=call.identity, resource_type="service_referral", resource_id=ref.id,
                    source_ip=call.remote_addr, request_id=call.request_id,
                    detail={"service_id": ref.service_id, "organization_id": ref.organization_id,
                            "consent_id": ref.consent_id, "categories": categories})
        view = self._referral_view(ref, Actor.AGENCY)
        remember(self.db, call, CREATE_SCOPE, 201, view)
        self.db.commit()
        return ApiResponse(view, status=201, headers={
            "ETag": etag(ref.id, ref.version), "Location": f"/v1/service-referrals/{ref.id}"})

    def _history(self, ref: ServiceReferral, previous: str | None, call: Call | None, at: dt.datetime) -> None:
        identity = call.identity if call is not None else None
        self.db.add(ServiceReferralHistory(
            service_referral_id=ref.id, agency_id=ref.agency_id, from_status=previous, to_status=ref.status,
            reason_code=ref.reason_code, note=ref.note if previous is not None else None,
            changed_by=identity.sub if identity else "resources",
            changed_by_role=self._actor(call).value if call is not None else "system", changed_at=at,
        ))

    @api("GET", "/v1/service-referrals", person_data=True, roles=REFERRAL_READERS, query=ServiceReferralQuery,
         response=Page[ServiceReferralOut | PartnerServiceReferralOut], tags=["service referrals"],
         summary="The agency's service referrals; a partner sees only those addressed to its organization")
    def list_service_referrals(self, call: Call) -> Any:
        query: ServiceReferralQuery = call.query
        actor = self._actor(call)
        statement = self._referrals(call)
        for name in ("status", "service_id") + (("case_id", "participant_id") if actor is Actor.AGENCY else ()):
            value = getattr(query, name)
            if value is not None:
                statement = statement.where(getattr(ServiceReferral, name) == value)
        pager = Pager(call, ServiceReferral.requested_at.desc(), ServiceReferral.id.desc())
        page, next_cursor = pager.page(self.db.scalars(pager.apply(statement)).all(),
                                       key=lambda row: (row.requested_at, row.id))
        items = [self._referral_view(r, actor) for r in page]
        self._audit_read(call, None, {"listed": len(items), "ids": [r.id for r in page]})
        return Page[ServiceReferralOut | PartnerServiceReferralOut](  # type: ignore[misc]
            items=items, next_cursor=next_cursor,
        )

    @api("GET", "/v1/service-referrals/<referral_id>", person_data=True, roles=REFERRAL_READERS,
         response=ServiceReferralOut | PartnerServiceReferralOut, tags=["service referrals"],
         summary="One service referral (a partner's view holds only what sharing allows), with its ETag")
    def get_service_referral(self, call: Call, referral_id: str) -> ApiResponse:
        ref = self._load_referral(call, referral_id)
        self._audit_read(call, ref.id, {})
        return ApiResponse(self._referral_view(ref, self._actor(call)), headers={"ETag": etag(ref.id, ref.version)})

    @api("PATCH", "/v1/service-referrals/<referral_id>", roles=REFERRAL_READERS, body=ServiceReferralStatusChange,
         response=ServiceReferralOut | PartnerServiceReferralOut, required_headers=["If-Match"], errors=[409, 412, 428],
         tags=["service referrals"],
         summary="Move a referral on: the partner receives, accepts, rejects, starts, completes or fails it; "
                 "the agency cancels it")
    def change_service_referral_status(self, call: Call, referral_id: str) -> ApiResponse:
        change: ServiceReferralStatusChange = call.body
        actor = self._actor(call)
        ref = self._load_referral(call, referral_id, lock=True)
        require_if_match(call, etag(ref.id, ref.version))
        previous = Status(ref.status)
        status = check_transition(previous, change.status, actor, change.reason_code)
        now = _now()
        ref.status, ref.reason_code, ref.note = status.value, change.reason_code, change.note
        ref.version += 1
        ref.updated_at = now
        self._history(ref, previous.value, call, now)
        self.outbox.record(self.db, new_event(ServiceReferralStatusChanged(
            service_referral_id=ref.id, organization_id=ref.organization_id, service_id=ref.service_id,
            case_id=ref.case_id, status=status.value, previous_status=previous.value,  # type: ignore[arg-type]
            reason_code=ref.reason_code, note=ref.note, changed_at=now, changed_by=call.actor,
        ), subject=ref.id, tenantid=ref.agency_id))
        write_audit(self.db, service=self.name, action="service_referral.status_changed", outcome="success",
                    identity=call.identity, resource_type="service_referral", resource_id=ref.id,
                    source_ip=call.remote_addr, request_id=call.request_id,
                    detail={"from": previous.value, "to": status.value, "reason_code": ref.reason_code})
        self.db.commit()
        return ApiResponse(self._referral_view(ref, actor), headers={"ETag": etag(ref.id, ref.version)})

    @api("GET", "/v1/service-referrals/<referral_id>/history", person_data=True, roles=STAFF,
         response=list[ServiceReferralHistoryOut], tags=["service referrals"],
         summary="Every status of a referral, who set it and why (the referring agency only)")
    def service_referral_history(self, call: Call, referral_id: str) -> list[ServiceReferralHistoryOut]:
        ref = self._load_referral(call, referral_id)
        rows = self.db.scalars(select(ServiceReferralHistory)
                               .where(ServiceReferralHistory.service_referral_id == ref.id,
                                      ServiceReferralHistory.agency_id == call.agency)
                               .order_by(ServiceReferralHistory.id)).all()
        self._audit_read(call, ref.id, {"history": len(rows)})
        return [ServiceReferralHistoryOut(
            from_status=r.from_status, to_status=r.to_status, reason_code=r.reason_code, note=r.note,
            changed_by=r.changed_by, changed_by_role=r.changed_by_role, changed_at=_aware(r.changed_at),
        ) for r in rows]

    # -- escalation ---------------------------------------------------------------------------------

    @escalation_timer()
    def escalate_unanswered_referrals(self) -> None:
        """Publish `service_referral.escalated` once per referral still `requested` past its SLA."""
        escalate_due(self.db, self.outbox, _now())


def escalate_due(session: Session, outbox: Any, now: dt.datetime, batch: int = 100) -> int:
    """Claim overdue referrals and record their escalation events in one transaction; the count claimed.

    `escalated_at IS NULL` in the UPDATE makes the claim exclusive: of two instances racing for a row,
    the second finds it already set (PostgreSQL re-checks the condition after the first commits), and
    SKIP LOCKED lets it move on to other rows instead of waiting.
    """
    r = cast(Table, ServiceReferral.__table__)
    due = (
        select(r.c.id)
        .where(r.c.status == Status.REQUESTED.value, r.c.escalated_at.is_(None), r.c.respond_by <= now)
        .order_by(r.c.respond_by)
        .limit(batch)
    )
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    claimed = session.execute(
        update(r).where(r.c.id.in_(due), r.c.escalated_at.is_(None)).values(escalated_at=now)
        .returning(r.c.id, r.c.agency_id, r.c.organization_id, r.c.service_id, r.c.case_id, r.c.requested_at,
                   r.c.respond_by)
    ).all()
    for row in claimed:
        outbox.record(session, new_event(ServiceReferralEscalated(
            service_referral_id=row.id, organization_id=row.organization_id, service_id=row.service_id,
            case_id=row.case_id, waiting_since=_aware(row.requested_at), escalated_at=now,
            respond_by=_aware(row.respond_by),
        ), subject=row.id, tenantid=row.agency_id))
        write_audit(session, service="resources", action="service_referral.escalated", outcome="success",
                    identity=None, agency_id=row.agency_id, resource_type="service_referral", resource_id=row.id,
                    source_ip=None, request_id=None, detail={"respond_by": _aware(row.respond_by).isoformat()})
    session.commit()
    if claimed:
        log.info("escalated %d unanswered service referrals", len(claimed))
    return len(claimed)


__all__ = ["ResourcesService", "ResourcesSettings", "escalate_due"]
